"""Worker logs stay readable after the workers are gone: of a completed, a stopped and a failed job, every
attempt and every worker, through REST, the SDK and the CLI.

The operator archives the logs and the facade finds them; both take the archive's names from ``tensorone.api.names``,
so this test spells none of them: it only reads what a user reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from tensorone.api import names
from tensorone.cli.main import app

from .conftest import Platform, until

# Prints who it is, reports a step, and (for the stop) loops until asked to stop, then checkpoints.
CUSTOM = """
import os, time
def train(context):
    worker = os.environ["TENSORONE_WORKER_INDEX"]
    attempt = os.environ["TENSORONE_ATTEMPT"]
    print(f"hello from worker {worker} attempt {attempt}", flush=True)
    context.report(step=1, loss=1.0)
    mode = context.config.training.optimizer.value
    if mode == "sgd":  # the stopped job: run until the stop, then checkpoint
        while not context.should_stop():
            time.sleep(0.2)
        context.save_checkpoint({"step": 1}, step=1)
        print(f"worker {worker} stopped with a checkpoint", flush=True)
    elif mode == "adam":  # the failed job: every attempt crashes (once both workers have said hello)
        import torch.distributed
        torch.distributed.barrier()
        raise RuntimeError(f"worker {worker} gave up in attempt {attempt}")
"""


def _create(platform: Platform, name: str, optimizer: str, **extra: Any) -> str:
    dataset = platform.client.datasets.create(name=f"{name}-data", format="jsonl", source="/datasets/x.jsonl")
    job = platform.client.training.jobs.create(
        name=name,
        model_type="custom",
        dataset_id=dataset.id,
        gpu_type="a100",
        max_workers=2,
        config={"customCode": CUSTOM, "training": {"epochs": 1, "optimizer": optimizer}},
        **extra,
    )
    return job.id


def _pods_gone(platform: Platform, job_id: str) -> None:
    until(f"the pods of {job_id} gone", lambda: platform.pods(job_id) == [], timeout=60)


def _read_everywhere(platform: Platform, job_id: str, worker: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """The log as REST, the SDK and the CLI give it (all three must agree)."""
    http = platform.client._transport.http  # the SDK's own authenticated connection, used raw
    rest = http.get(f"/v2/training/jobs/{job_id}/logs", params={"worker": worker})
    assert rest.status_code == 200, rest.text
    sdk = platform.client.training.jobs.logs(job_id, worker=worker)
    monkeypatch.setenv("TENSORONE_API_KEY", http.headers["Authorization"].removeprefix("Bearer "))
    monkeypatch.setenv("TENSORONE_BASE_URL", platform.client.base_url)
    cli = CliRunner().invoke(app, ["jobs", "logs", job_id, "--worker", str(worker)])
    assert cli.exit_code == 0, cli.output
    assert rest.text == sdk == cli.output
    return sdk


def test_logs_of_a_completed_job_outlive_its_workers(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _create(platform, "done", "adamw")
    assert platform.wait_finished(job_id).status == "completed"
    _pods_gone(platform, job_id)
    for worker in (0, 1):
        text = _read_everywhere(platform, job_id, worker, monkeypatch)
        assert f"hello from worker {worker} attempt 1" in text
        assert "==> attempt" not in text  # one attempt: no headers


def test_logs_of_a_stopped_job_outlive_its_workers(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _create(platform, "stopped", "sgd")
    platform.wait_job(job_id, lambda j: j.progress.current_step >= 1, "the first report", timeout=120)
    platform.client.training.jobs.stop(job_id, save_checkpoint=True)
    assert platform.wait_finished(job_id).status == "stopped"
    _pods_gone(platform, job_id)
    for worker in (0, 1):
        text = _read_everywhere(platform, job_id, worker, monkeypatch)
        assert f"hello from worker {worker} attempt 1" in text
        assert f"worker {worker} stopped with a checkpoint" in text


def test_logs_of_every_attempt_of_a_failed_job_outlive_its_workers(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _create(platform, "failed", "adam")
    # One retry: two attempts, both crash.
    name = job_id.replace("_", "-")
    platform.kube.patch(
        f"/apis/training.tensorone.ai/v1/namespaces/tensorone-default/trainingjobs/{name}",
        json={"spec": {"runPolicy": {"backoffLimit": 1}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()
    final = platform.wait_finished(job_id)
    assert final.status == "failed"
    _pods_gone(platform, job_id)
    for worker in (0, 1):
        text = _read_everywhere(platform, job_id, worker, monkeypatch)
        first, second = text.index("==> attempt 1 <=="), text.index("==> attempt 2 <==")
        assert first < text.index(f"hello from worker {worker} attempt 1") < second
        assert second < text.index(f"hello from worker {worker} attempt 2")
        one = platform.client.training.jobs.logs(job_id, worker=worker, attempt=2)
        assert f"hello from worker {worker} attempt 2" in one
    # The archive is labelled as the shared names say (what the facade's lookup relies on).
    listed = platform.kube.get(
        "/api/v1/namespaces/tensorone-default/configmaps",
        params={"labelSelector": names.archived_logs_selector(name)},
    ).json()["items"]
    assert sorted(item["metadata"]["labels"][names.ATTEMPT_LABEL] for item in listed) == ["1", "2"]
