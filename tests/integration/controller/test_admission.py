"""Refused jobs fail at once with the reason and field, an event, and no pods."""

from __future__ import annotations

import pytest

from tests.integration.controller.conftest import DATASETS, Cluster, fake_code


@pytest.mark.parametrize(
    ("spec", "reason", "mentions"),
    [
        ({"config": {"customCode": "x = 1\n"}}, "InvalidSpec", "spec.config.customCode"),
        ({"gpuType": "h100"}, "InsufficientResources", "a100"),
        ({"gpusPerWorker": 8, "maxWorkers": 1, "gpuType": "a100"}, None, None),
    ],
    ids=["spec-the-model-refuses", "gpu-type-not-offered", "fits-on-a-node"],
)
def test_admission_refuses_what_cannot_run(
    cluster: Cluster, spec: dict[str, object], reason: str | None, mentions: str | None
) -> None:
    cluster.start_operator()
    cluster.create_job("job-a", **spec)
    if reason is None:
        job = cluster.wait_phase("job-a", "pending", "running")
        assert job["status"]["resourceAllocation"]["gpuType"] == "NVIDIA A100"
        return
    job = cluster.wait_phase("job-a", "failed")
    admitted = next(c for c in job["status"]["conditions"] if c["type"] == "Admitted")
    assert (admitted["status"], admitted["reason"]) == ("False", reason)
    assert mentions in admitted["message"]
    assert cluster.pods("job-a") == []
    assert any(e["type"] == "Warning" for e in cluster.events("job-a"))


def test_a_job_applied_before_its_dataset_waits_for_it_and_then_starts(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-early", dataset="ds-late", config={"customCode": fake_code(seconds=0.5)})
    job = cluster.wait_phase("job-early", "queued")
    admitted = next(c for c in job["status"]["conditions"] if c["type"] == "Admitted")
    assert (admitted["status"], admitted["reason"]) == ("False", "WaitingForDataset")
    assert "'ds-late'" in admitted["message"]
    assert "error" not in job["status"]
    assert cluster.pods("job-early") == []
    waiting = cluster.wait("an event saying what the job waits for", lambda: [
        e for e in cluster.events("job-early") if e["reason"] == "WaitingForDataset"
    ])  # fmt: skip
    assert "'ds-late'" in waiting[0]["message"]
    dataset = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "Dataset",
        "metadata": {"name": "ds-late"},
        "spec": {"displayName": "late", "format": "jsonl", "source": "/datasets/late.jsonl"},
    }
    assert cluster.http.post(DATASETS, json=dataset).status_code == 201
    done = cluster.wait_phase("job-early", "completed", timeout=40)
    admitted = next(c for c in done["status"]["conditions"] if c["type"] == "Admitted")
    assert admitted["status"] == "True"
