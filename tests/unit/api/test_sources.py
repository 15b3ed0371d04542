"""Where a fetched source's local copy is (one function for the operator and the initializer), and how the
initializer's progress reads in the job's ``Initializing`` condition."""

from __future__ import annotations

import json

import pytest

from tensorone.api.sources import (
    PROGRESS_PREFIX,
    SOURCES_DIR,
    FetchProgress,
    cache_key,
    is_hub_model,
    local_copy_dir,
    local_dataset_path,
)
from tensorone.controller.reconcile import failed_field, last_progress


@pytest.mark.parametrize(
    ("source", "inside"),
    [
        pytest.param("s3://corpus/text/train.jsonl", "train.jsonl", id="s3-object"),
        pytest.param("s3://corpus/text/", "text", id="s3-prefix"),
        pytest.param("s3://corpus", "corpus", id="s3-bucket"),
        pytest.param("https://example.com/d/train.csv?sig=1", "train.csv", id="https"),
        pytest.param("hf://datasets/org/zen/data/train.jsonl@v1", "zen/data/train.jsonl", id="hf-file"),
        pytest.param("hf://datasets/org/zen", "zen", id="hf-repo"),
    ],
)
def test_a_fetched_source_is_read_from_its_copy_in_the_cache(source: str, inside: str) -> None:
    assert local_dataset_path(source) == f"{SOURCES_DIR}/{cache_key(source)}/{inside}"
    assert local_copy_dir(source) == f"{SOURCES_DIR}/{cache_key(source)}"


def test_a_volume_path_is_read_where_it_is_and_revisions_are_cached_apart() -> None:
    assert local_dataset_path("/datasets/text/train.jsonl") == "/datasets/text/train.jsonl"
    assert local_copy_dir("hf://datasets/org/zen@v1") != local_copy_dir("hf://datasets/org/zen@v2")


@pytest.mark.parametrize(
    ("model", "fetched"),
    [("org/name", True), ("gpt2", True), ("/datasets/models/tiny", False), ("hf://org/name", False)],
)
def test_only_hub_ids_are_fetched_as_models(model: str, fetched: bool) -> None:
    assert is_hub_model(model) is fetched


def test_the_last_progress_line_of_the_initializer_log_becomes_the_condition_message() -> None:
    def line(files: int, fetched: int) -> str:
        progress = FetchProgress(
            source="s3://corpus/text/",
            files=files,
            fetched_bytes=fetched,
            total_files=10,
            total_bytes=40_000_000,
        )
        return PROGRESS_PREFIX + json.dumps(progress.to_wire())

    log = "\n".join(["INFO starting", line(1, 4_000_000), "WARNING try 1 of 5 failed", line(3, 12_000_000)])
    assert last_progress(log) == "fetching s3://corpus/text/: 3 of 10 files, 12.0 MB of 40.0 MB"
    assert last_progress("INFO nothing yet") is None
    assert last_progress(PROGRESS_PREFIX + "{not json") is None


def test_an_initializer_failure_is_told_on_the_field_it_names() -> None:
    assert failed_field("config.baseModel org/x: no such repository on the hub") == "spec.config.baseModel"
    assert failed_field("Dataset source s3://b/k: not found (NoSuchKey)") == "spec.datasetRef.name"
