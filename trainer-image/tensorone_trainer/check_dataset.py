"""``python -m tensorone_trainer.check_dataset --path P --format F``: is the dataset there and readable?

The operator runs this in a small pod (no GPU) when it admits a job, before any worker starts: a missing or
malformed dataset then fails the job in seconds without billing a GPU. It reads the data with the trainer's own
readers (the same checks the trainer makes: every record parsed, every record the shape of the first), and
leaves its verdict as the termination message: a JSON summary (``DatasetCheck``) when the data is good, the
trainer's DataError sentence (file and line, never the record itself) with exit 65 when it is not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tensorone.api.dataset import DatasetFormat
from tensorone.api.trainer_config import DatasetCheck
from tensorone_trainer.cli import write_termination_message
from tensorone_trainer.confine import confined_path
from tensorone_trainer.errors import ConfigurationError, DataError


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_text(path: Path, fmt: DatasetFormat) -> DatasetCheck:
    from tensorone_trainer.data.records import read_records
    from tensorone_trainer.data.text import check_record_shapes

    records = read_records(path, fmt)
    check_record_shapes(records)
    return DatasetCheck(
        format=fmt, size_bytes=_size(path), num_examples=len(records), first=records[0].location,
        last=records[-1].location,
    )  # fmt: skip


def check_yolo(path: Path, num_classes: int | None) -> DatasetCheck:
    from tensorone_trainer.data.yolo import IMAGE_SUFFIXES, prepare_yolo_dataset

    with tempfile.TemporaryDirectory(prefix="tensorone-check-") as work:
        prepare_yolo_dataset(path, Path(work), num_classes=num_classes, val_split=None, seed=0)
    images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return DatasetCheck(
        format=DatasetFormat.YOLO, size_bytes=_size(path), num_examples=len(images),
        first=str(images[0]) if images else None, last=str(images[-1]) if images else None,
    )  # fmt: skip


def check(path: Path, fmt: DatasetFormat, num_classes: int | None = None) -> DatasetCheck:
    if not path.exists():
        raise DataError(f"{path}: dataset not found")
    return check_yolo(path, num_classes) if fmt is DatasetFormat.YOLO else check_text(path, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tensorone_trainer.check_dataset")
    parser.add_argument("--path", required=True)
    parser.add_argument("--format", required=True, choices=[f.value for f in DatasetFormat])
    parser.add_argument("--num-classes", type=int)
    parser.add_argument(
        "--data-root", help="the data volume: the dataset must resolve inside it (symlinks too)"
    )
    args = parser.parse_args(argv)
    try:
        path = confined_path(args.data_root, args.path, "dataset source")
        result = check(path, DatasetFormat(args.format), args.num_classes)
    except (DataError, ConfigurationError) as e:
        print(str(e), file=sys.stderr)
        write_termination_message(str(e))
        return e.exit_code
    summary = result.model_dump_json(by_alias=True, exclude_none=True)
    print(summary)
    write_termination_message(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
