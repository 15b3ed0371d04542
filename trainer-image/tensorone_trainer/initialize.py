"""``python -m tensorone_trainer.initialize``: the job's initializer, run by the operator in one small pod (no GPU,
no Kubernetes credentials) before any worker starts.

It fetches the dataset when its source is a URL (``s3://``, ``hf://``, ``https://``) into the cache on the account's
data volume, fetches the base model when it is a hub id into the hub cache there, then reads the dataset's local
copy with the trainer's own readers (``check_dataset``). Progress lines go to stdout (the operator shows the last
one in the job's ``Initializing`` condition); the verdict is the termination message: an ``InitializerReport``
(exit 0), or one sentence naming the field, the URL (without credentials) and the cause (exit 65: the operator
fails the job with it and starts no worker). Network errors are retried with backoff inside; a source that does
not exist is not.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import sys
from pathlib import Path

from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.dataset import DatasetFormat
from tensorone.api.source_urls import HubSource, S3Source, display_url, parse_source_url
from tensorone.api.sources import (
    HUB_CACHE_DIR,
    FetchSummary,
    InitializerReport,
    is_fetched,
    is_hub_model,
    local_copy_dir,
    local_dataset_path,
)
from tensorone_trainer.check_dataset import check
from tensorone_trainer.cli import write_termination_message
from tensorone_trainer.confine import confined_path
from tensorone_trainer.errors import ConfigurationError, DataError

DATASET_FIELD = "Dataset source"
MODEL_FIELD = "config.baseModel"


def on_volume(root: Path, mounted: str) -> Path:
    """``mounted`` (a path as workers see it, under ``DATA_VOLUME_MOUNT_PATH``) where this pod has the volume."""
    return root / posixpath.relpath(mounted, DATA_VOLUME_MOUNT_PATH)


def fetch_dataset(source: str, root: Path) -> FetchSummary:
    parsed = parse_source_url(source)
    shown = display_url(source)
    target = on_volume(root, local_copy_dir(source))
    if isinstance(parsed, S3Source):
        from tensorone_trainer.fetch.s3 import fetch_s3

        return fetch_s3(parsed, source, shown, target, DATASET_FIELD)
    if isinstance(parsed, HubSource):
        from tensorone_trainer.fetch.hub import fetch_hub_dataset

        return fetch_hub_dataset(parsed, source, shown, target, on_volume(root, HUB_CACHE_DIR), DATASET_FIELD)
    from tensorone_trainer.fetch.https import fetch_https

    return fetch_https(parsed, source, shown, target, DATASET_FIELD)


def fetch_model(model: str, root: Path) -> FetchSummary:
    from tensorone_trainer.fetch.hub import fetch_hub_model

    return fetch_hub_model(model, on_volume(root, HUB_CACHE_DIR), MODEL_FIELD)


def initialize(
    root: Path, dataset: str | None, model: str | None, fmt: DatasetFormat | None, num_classes: int | None
) -> InitializerReport:
    report = InitializerReport()
    if dataset and is_fetched(dataset):
        report.dataset = fetch_dataset(dataset, root)
    if model and is_hub_model(model):
        report.model = fetch_model(model, root)
    if dataset and fmt is not None:
        # A volume path is read as given (where this pod has it); a fetched source from its copy in the cache.
        local = on_volume(root, local_dataset_path(dataset)) if is_fetched(dataset) else Path(dataset)
        report.check = check(confined_path(root, local, "dataset source"), fmt, num_classes)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tensorone_trainer.initialize")
    parser.add_argument("--data-root", required=True, help="the account's data volume, where the cache is")
    parser.add_argument("--dataset", help="the Dataset's source (a URL is fetched)")
    parser.add_argument("--model", help="the base model (a hub id is fetched)")
    parser.add_argument(
        "--format", choices=[f.value for f in DatasetFormat], help="check the dataset as this"
    )
    parser.add_argument("--num-classes", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    fmt = DatasetFormat(args.format) if args.format else None
    try:
        report = initialize(Path(args.data_root), args.dataset, args.model, fmt, args.num_classes)
    except ValueError as e:  # a source URL registration would have refused (an older CRD let it in)
        refused = DataError(f"{DATASET_FIELD}: {e}")
        print(str(refused), file=sys.stderr)
        write_termination_message(str(refused))
        return refused.exit_code
    except (DataError, ConfigurationError) as e:
        print(str(e), file=sys.stderr)
        write_termination_message(str(e))
        return e.exit_code
    summary = report.model_dump_json(by_alias=True, exclude_none=True)
    print(summary)
    write_termination_message(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
