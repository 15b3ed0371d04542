"""``tensorone validate FILE``: what a person sees for good and bad job files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def run_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tensorone", "validate", str(path)], capture_output=True, text=True, timeout=60
    )


GOOD_A = {
    "name": "support-bot",
    "modelType": "llm",
    "datasetId": "ds_support_tickets",
    "config": {"baseModel": "meta-llama/Llama-2-7b-hf", "training": {"epochs": 3}},
    "gpuType": "a100",
    "maxWorkers": 2,
}


def test_valid_request_prints_valid_and_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(GOOD_A))
    result = run_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid")
    assert "2 x a100" in result.stdout
    assert "hourly:    $5.00" in result.stdout


def test_manifest_is_validated_with_manifest_paths(tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": "job-1"},
        "spec": {"displayName": "x", "modelType": "vision", "datasetRef": {"name": "ds-1"},
                 "config": {"input_size": [100, 640]}},
    }  # fmt: skip
    path = tmp_path / "job.json"
    path.write_text(json.dumps(manifest))
    result = run_validate(path)
    assert result.returncode == 1
    assert "spec.config.input_size[0]:" in result.stdout


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"maxWorkers": 64}, "maxWorkers"),
        ({"config": {"baseModel": "meta-llama/Llama-2-70b-hf", "strategy": "full"}}, "gpuType"),
    ],
    ids=["range", "memory-fit"],
)
def test_invalid_request_lists_each_error_with_its_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({**GOOD_A, **change}))
    result = run_validate(path)
    assert result.returncode == 1
    assert result.stdout.startswith("invalid")
    assert f"  {field}: " in result.stdout


def test_unparseable_file_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text("{not json")
    assert run_validate(path).returncode == 1
