"""Where data and models may come from: lexical rules (the text of a path) and the worker's symlink check."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorone.api.data_paths import (
    OutsideDataVolumeError,
    dataset_source_problem,
    model_problem,
    resolve_inside,
)

SOURCES = [
    pytest.param("/datasets/text/train.jsonl", None, id="on-the-volume"),
    pytest.param("/datasets/../../tensorone-default/datasets/x", "'..'", id="dot-dot"),
    pytest.param("/datasets/./x", "'.'", id="dot"),
    pytest.param("/etc/passwd", "inside the account's data volume", id="host-path"),
    pytest.param("FILE:///etc/passwd", "file://", id="file-url-any-case"),
    pytest.param("s3://bucket/text/train.jsonl", None, id="s3-object"),
    pytest.param("s3://bucket/text/", None, id="s3-prefix"),
    pytest.param("s3://bucket", None, id="s3-whole-bucket"),
    pytest.param("s3://b/x", "bucket", id="s3-bucket-too-short"),
    pytest.param("s3://bucket/a/../../x", "'..'", id="s3-key-dot-dot"),
    pytest.param("s3://bucket/a//x", "empty segments", id="s3-key-empty-segment"),
    pytest.param("hf://datasets/org/name", None, id="hf-dataset"),
    pytest.param("hf://datasets/org/name/data/train.jsonl@v1.0", None, id="hf-file-at-revision"),
    pytest.param("hf://datasets/org/name/../x", "'..'", id="hf-path-dot-dot"),
    pytest.param("hf://org/name", "hf://datasets/org/name", id="hf-model-url"),
    pytest.param("hf://datasets/org/name@", "revision", id="hf-empty-revision"),
    pytest.param("https://example.com/data/train.jsonl", None, id="https"),
    pytest.param("https://u:p@example.com/train.jsonl", "credentials", id="https-credentials"),
    pytest.param("https://example.com/", "must name a file", id="https-no-file"),
    pytest.param("S3://bucket/x", "lower case", id="upper-case-scheme"),
    pytest.param("gs://b/x", "not supported yet", id="gs"),
    pytest.param("http://h/x", "not supported yet", id="plain-http"),
    pytest.param("x/y", "absolute path", id="relative"),
]


@pytest.mark.parametrize(("source", "says"), SOURCES)
def test_dataset_sources(source: str, says: str | None) -> None:
    problem = dataset_source_problem(source)
    assert problem is None if says is None else says in (problem or "")


MODELS = [
    pytest.param("meta-llama/Llama-2-7b-hf", None, id="hub-id"),
    pytest.param("Qwen/Qwen2.5-0.5B", None, id="hub-id-with-dots"),
    pytest.param("gpt2", None, id="bare-hub-id"),
    pytest.param("/datasets/models/tiny", None, id="volume-path"),
    pytest.param("../models/x", "absolute path", id="relative-dot-dot"),
    pytest.param("./x", "absolute path", id="relative-dot"),
    pytest.param("/root/model", "inside", id="host-path"),
    pytest.param("hf://org/name", "not supported yet", id="hf-url"),
    pytest.param("org/name:main", "hub id", id="revision-suffix"),
    pytest.param("C:/models/x", "not supported yet", id="drive-letter-reads-as-a-scheme"),
    pytest.param("a/b/c", "hub id", id="three-segments"),
]


@pytest.mark.parametrize(("value", "says"), MODELS)
def test_model_locations(value: str, says: str | None) -> None:
    problem = model_problem(value)
    assert problem is None if says is None else says in (problem or "")


def test_links_are_followed_and_must_stay_inside(tmp_path: Path) -> None:
    volume, elsewhere = tmp_path / "volume", tmp_path / "elsewhere"
    (volume / "data").mkdir(parents=True)
    elsewhere.mkdir()
    (volume / "data" / "train.jsonl").write_text("{}\n")
    (volume / "inner").symlink_to(volume / "data")
    (volume / "out").symlink_to(elsewhere)
    assert (
        resolve_inside(volume, volume / "inner" / "train.jsonl")
        == (volume / "data" / "train.jsonl").resolve()
    )
    for escape in (volume / "out" / "x", volume / ".." / "elsewhere", elsewhere):
        with pytest.raises(OutsideDataVolumeError):
            resolve_inside(volume, escape)
