"""The initializer as the operator runs it (``python -m tensorone_trainer.initialize``), against a real
S3-compatible server (moto) and a pre-filled hub cache with ``HF_HUB_OFFLINE=1``: the real client libraries
fetch; what a user sees is the termination message, the exit code and the files on the data volume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.sources import HUB_CACHE_DIR, PROGRESS_PREFIX, InitializerReport, local_dataset_path
from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tensorone_trainer.fetch import common
from tensorone_trainer.fetch.common import TransientError, with_retries
from tensorone_trainer.fetch.errors import SourceUnreachableError
from tests.helpers.hub_cache import prefill_hub_cache
from tests.helpers.object_store import SECRET_KEY, ObjectStore, running_object_store

RECORDS = b"".join(b'{"text": "record %d"}\n' % i for i in range(5))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    with running_object_store(tmp_path_factory.mktemp("s3")) as running:
        running.put("corpus", "text/train.jsonl", RECORDS)
        running.put("corpus", "text/extra/more.jsonl", RECORDS)
        yield running


def initialize(volume: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """(exit code, termination message, stdout+stderr) of one initializer run on ``volume``."""
    message = volume.parent / "termination-log"
    message.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "tensorone_trainer.initialize", "--data-root", str(volume), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **env, "TENSORONE_TERMINATION_LOG": str(message), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    return done.returncode, message.read_text(), done.stdout + done.stderr


def on_volume(volume: Path, mounted: str) -> Path:
    return volume / Path(mounted).relative_to(DATA_VOLUME_MOUNT_PATH)


def test_an_s3_object_is_fetched_checked_and_served_from_the_cache_the_second_time(
    store: ObjectStore, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    source = "s3://corpus/text/train.jsonl"
    code, message, output = initialize(volume, store.environment(), "--dataset", source, "--format", "jsonl")
    assert code == 0, message
    report = InitializerReport.model_validate_json(message)
    assert report.dataset is not None
    assert report.dataset.cache_hit is False
    assert report.dataset.fetched_bytes == len(RECORDS)
    assert report.check is not None
    assert report.check.num_examples == 5
    assert on_volume(volume, local_dataset_path(source)).read_bytes() == RECORDS
    assert any(line.startswith(PROGRESS_PREFIX) for line in output.splitlines())
    assert store.gets_of("corpus", "text/train.jsonl") == 1

    code, message, _ = initialize(volume, store.environment(), "--dataset", source, "--format", "jsonl")
    assert code == 0, message
    again = InitializerReport.model_validate_json(message)
    assert again.dataset is not None
    assert again.dataset.cache_hit is True
    assert again.dataset.fetched_bytes == 0
    assert store.gets_of("corpus", "text/train.jsonl") == 1  # no second download


def test_an_s3_prefix_is_fetched_as_a_folder(store: ObjectStore, tmp_path: Path) -> None:
    source = "s3://corpus/text/"
    code, message, _ = initialize(tmp_path, store.environment(), "--dataset", source, "--format", "jsonl")
    assert code == 0, message
    folder = on_volume(tmp_path, local_dataset_path(source))
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.jsonl")) == [
        "extra/more.jsonl",
        "train.jsonl",
    ]
    assert InitializerReport.model_validate_json(message).check.num_examples == 10  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        pytest.param("s3://corpus/text/missing.jsonl", "not found", id="missing-object"),
        pytest.param("s3://no-such-bucket/train.jsonl", "not found (NoSuchBucket)", id="missing-bucket"),
    ],
)
def test_a_missing_source_fails_at_once_naming_the_field_and_the_url(
    store: ObjectStore, tmp_path: Path, source: str, cause: str
) -> None:
    before = len(store.requests())
    code, message, output = initialize(
        tmp_path, store.environment(), "--dataset", source, "--format", "jsonl"
    )
    assert code == EXIT_DATA_ERROR
    assert message.startswith(f"Dataset source {source}: ")
    assert cause in message
    assert "Traceback" not in output
    assert SECRET_KEY not in message + output
    assert len(store.requests()) - before <= 2  # one look, one listing: not retried


def test_network_errors_are_retried_with_backoff_then_reported() -> None:
    delays: list[float] = []
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise TransientError("ConnectionRefused")
        return "fetched"

    assert (
        with_retries(flaky, lambda cause: SourceUnreachableError("f", "s3://b/k", cause), delays.append)
        == "fetched"
    )
    assert delays == [1.0, 2.0]

    def down() -> str:
        raise TransientError("ConnectionRefused")

    with pytest.raises(
        SourceUnreachableError, match=r"f s3://b/k: unreachable after 5 tries \(ConnectionRefused\)"
    ):
        with_retries(down, lambda cause: SourceUnreachableError("f", "s3://b/k", cause), delays.append)
    assert delays[2:] == [1.0, 2.0, 4.0, 8.0]


def test_an_unreachable_store_fails_after_the_retries_without_showing_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorone_trainer.initialize import main

    monkeypatch.setattr(common, "BACKOFF_SECONDS", 0.01)
    closed = ObjectStore("http://127.0.0.1:9", tmp_path / "none.log").environment()
    for key, value in closed.items():
        monkeypatch.setenv(key, value)
    message = tmp_path / "termination-log"
    monkeypatch.setenv("TENSORONE_TERMINATION_LOG", str(message))
    code = main(["--data-root", str(tmp_path), "--dataset", "s3://corpus/text/train.jsonl"])
    assert code == EXIT_DATA_ERROR
    text = message.read_text()
    assert text.startswith("Dataset source s3://corpus/text/train.jsonl: unreachable after 5 tries")
    assert SECRET_KEY not in text


def test_hub_dataset_and_model_come_from_the_hub_cache(tmp_path: Path) -> None:
    cache = on_volume(tmp_path, HUB_CACHE_DIR)
    prefill_hub_cache(cache, "org/zen", {"data/train.jsonl": RECORDS, "README.md": b"zen"}, "dataset", "v1")
    prefill_hub_cache(cache, "org/tiny", {"config.json": b"{}", "model.safetensors": b"weights"})
    source = "hf://datasets/org/zen/data/train.jsonl@v1"
    code, message, _ = initialize(
        tmp_path, {}, "--dataset", source, "--model", "org/tiny", "--format", "jsonl"
    )
    assert code == 0, message
    report = InitializerReport.model_validate_json(message)
    assert report.model is not None
    assert (report.model.files, report.model.size_bytes) == (2, 2 + 7)
    assert report.check is not None
    assert report.check.num_examples == 5
    assert on_volume(tmp_path, local_dataset_path(source)).read_bytes() == RECORDS


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["--dataset", "hf://datasets/org/zen/nothing.jsonl@v1"], "Dataset source hf://datasets/org/zen/nothing.jsonl@v1: no such file", id="missing-file"),
        pytest.param(["--dataset", "hf://datasets/org/zen@v9"], "Dataset source hf://datasets/org/zen@v9: not in the hub cache", id="missing-revision"),
        pytest.param(["--dataset", "/datasets/x.jsonl", "--model", "org/absent"], "config.baseModel org/absent: not in the hub cache", id="missing-model"),
    ],
)  # fmt: skip
def test_missing_hub_sources_fail_naming_the_field(tmp_path: Path, args: list[str], says: str) -> None:
    prefill_hub_cache(
        on_volume(tmp_path, HUB_CACHE_DIR), "org/zen", {"train.jsonl": RECORDS}, "dataset", "v1"
    )
    code, message, output = initialize(tmp_path, {}, *args)
    assert code == EXIT_DATA_ERROR
    assert message.startswith(says)
    assert "Traceback" not in output


def test_an_object_name_that_would_leave_the_cache_folder_is_refused(
    store: ObjectStore, tmp_path: Path
) -> None:
    store.put("corpus", "evil/a/%2E%2E/%2E%2E/%2E%2E/escape.jsonl", RECORDS)
    code, message, _ = initialize(tmp_path, store.environment(), "--dataset", "s3://corpus/evil/")
    listed = json.dumps(message)
    assert code == EXIT_DATA_ERROR, listed
    assert "cannot be stored as a file" in message
    assert not list(tmp_path.parent.rglob("escape.jsonl"))


def test_a_dataset_already_on_the_volume_is_only_checked(tmp_path: Path) -> None:
    data = tmp_path / "text" / "train.jsonl"
    data.parent.mkdir()
    data.write_bytes(RECORDS)
    code, message, _ = initialize(tmp_path, {}, "--dataset", str(data), "--format", "jsonl")
    assert code == 0, message
    report = InitializerReport.model_validate_json(message)
    assert report.dataset is None  # nothing fetched
    assert report.check is not None
    assert report.check.num_examples == 5
    outside = tmp_path.parent / "elsewhere.jsonl"
    outside.write_bytes(RECORDS)
    code, message, _ = initialize(tmp_path, {}, "--dataset", str(outside), "--format", "jsonl")
    assert code != 0
    assert "outside the account's data volume" in message
