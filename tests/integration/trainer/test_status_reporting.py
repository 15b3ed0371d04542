"""The trainer reports into the TrainingJob's status subresource on the sandbox API server, as rank 0 does
in a cluster: progress, metrics, optimizations, checkpoints and history appear, and nothing else in the job is
touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tensorone.api.status import TRAINER_STATUS_FIELDS
from tensorone.sandbox.testing import RunningSandbox
from tests.helpers.tiny_models import build_tiny_llama, llm_run_config, run_trainer, write_text_dataset

pytestmark = pytest.mark.slow

JOBS = "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs"


def _create_job(client: httpx.Client) -> dict[str, Any]:
    job = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": "job-0000000000000001"},
        "spec": {
            "displayName": "status test",
            "modelType": "llm",
            "datasetRef": {"name": "tiny"},
            "config": {"baseModel": "/datasets/models/tiny"},
        },
    }
    response = client.post(JOBS, json=job)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_trainer_reports_progress_metrics_and_checkpoints_into_job_status(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    build_tiny_llama(tmp_path / "model")
    write_text_dataset(tmp_path / "data.jsonl", n=16)
    sandbox.install_product_crds()
    with sandbox.http() as client:
        created = _create_job(client)
        config = llm_run_config(tmp_path / "model", tmp_path / "data.jsonl", epochs=1, save_every_steps=2)
        config["statusTarget"] = {"namespace": "default", "name": "job-0000000000000001"}
        config["reportIntervalSeconds"] = 0.2
        done = run_trainer(config, tmp_path / "out", KUBECONFIG=str(sandbox.kubeconfig_path))
        assert done.returncode == 0, done.stderr
        job = client.get(f"{JOBS}/job-0000000000000001").json()

    status = job["status"]
    assert set(status) <= TRAINER_STATUS_FIELDS  # the trainer wrote nothing the operator owns
    assert job["spec"] == created["spec"]
    assert status["progress"]["percentage"] == 100.0
    assert status["progress"]["currentStep"] == status["progress"]["totalSteps"]
    assert status["metrics"]["currentLoss"] > 0
    assert status["metrics"]["throughput"].endswith("tokens/sec")
    # What the run chose for speed; text records are already full rows, so nothing is packed.
    assert status["optimizations"]["packing"] is False
    assert status["optimizations"]["attention"] == "sdpa"
    assert "ckpt_epoch_1" in [c["id"] for c in status["checkpoints"]]
    assert [p["step"] for p in status["history"] if "loss" in p] == list(
        range(1, status["progress"]["totalSteps"] + 1)
    )
