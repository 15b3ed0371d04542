"""Refused jobs fail at once with the reason and field, an event, and no pods."""

from __future__ import annotations

import pytest

from tests.integration.controller.conftest import Cluster


@pytest.mark.parametrize(
    ("spec", "reason", "mentions"),
    [
        ({"config": {"customCode": "x = 1\n"}}, "InvalidSpec", "spec.config.customCode"),
        ({"datasetRef": {"name": "nope"}}, "DatasetNotFound", "nope"),
        ({"gpuType": "h100"}, "InsufficientResources", "a100"),
        ({"gpusPerWorker": 8, "maxWorkers": 1, "gpuType": "a100"}, None, None),
    ],
    ids=["spec-the-model-refuses", "dataset-missing", "gpu-type-not-offered", "fits-on-a-node"],
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
