"""Object-level authorization: an account never sees or touches another's jobs and datasets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.facade.harness import Account, Cluster, shape_a

JOB_ENDPOINTS = [
    ("GET", "/v2/training/jobs/{job}", None),
    ("POST", "/v2/training/jobs/{job}/stop", {"saveCheckpoint": True}),
    ("POST", "/v2/training/jobs/{job}/resume", {"checkpointId": "ckpt_epoch_1"}),
    ("DELETE", "/v2/training/jobs/{job}", None),
    ("GET", "/v2/training/jobs/{job}/logs", None),
    ("GET", "/v2/training/jobs/{job}/checkpoints", None),
    ("GET", "/v2/training/jobs/{job}/events", None),
    ("GET", "/v2/training/jobs/{job}/metrics", None),
]
DATASET_ENDPOINTS = [("GET", "/v2/datasets/{dataset}", None), ("DELETE", "/v2/datasets/{dataset}", None)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    JOB_ENDPOINTS + DATASET_ENDPOINTS,
    ids=[f"{m} {p}" for m, p, _ in JOB_ENDPOINTS + DATASET_ENDPOINTS],
)
def test_another_accounts_objects_are_not_found(
    alice: Account, bob: Account, cluster: Cluster, method: str, path: str, body: Any
) -> None:
    dataset = alice.dataset()
    job = alice.job(dataset)
    response = bob.api.request(method, path.format(job=job, dataset=dataset), json=body)
    assert response.status_code == 404
    expected = (
        ("JOB_NOT_FOUND", {"jobId": job})
        if "{job}" in path
        else ("DATASET_NOT_FOUND", {"datasetId": dataset})
    )
    assert (response.json()["error"], response.json()["details"]) == expected
    assert alice.api.get(f"/v2/training/jobs/{job}").json()["status"] == "pending"
    assert cluster.job(alice.namespace, job)["spec"].get("suspend", False) is False
    assert alice.api.get(f"/v2/datasets/{dataset}").status_code == 200


def test_lists_show_only_the_callers_objects(alice: Account, bob: Account) -> None:
    alice.job()
    assert bob.api.get("/v2/training/jobs").json()["pagination"]["total"] == 0
    assert bob.api.get("/v2/datasets").json()["datasets"] == []


def test_another_accounts_dataset_cannot_be_trained_on(alice: Account, bob: Account) -> None:
    response = bob.api.post("/v2/training/jobs", json=shape_a(alice.dataset()))
    assert (response.status_code, response.json()["error"]) == (404, "DATASET_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v2/training/jobs/{job}/stop", {"suspend": False}, "suspend"),
        ("POST", "/v2/training/jobs/{job}/resume", {"status": "running"}, "status"),
        (
            "POST",
            "/v2/datasets",
            {"name": "d", "format": "json", "source": "/datasets/d", "id": "ds_0000000000000000"},
            "id",
        ),
        (
            "POST",
            "/v2/datasets",
            {"name": "d", "format": "json", "source": "/datasets/d", "namespace": "x"},
            "namespace",
        ),
        (
            "POST",
            "/v2/datasets",
            {"name": "d", "format": "json", "source": "/datasets/d", "status": "Ready"},
            "status",
        ),
    ],
    ids=["stop-suspend", "resume-status", "dataset-id", "dataset-namespace", "dataset-status"],
)
def test_mass_assignment_is_refused(alice: Account, method: str, path: str, body: Any, field: str) -> None:
    job = alice.job()
    response = alice.api.request(method, path.format(job=job), json=body)
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["details"]["field"]) == ("CONFIGURATION_ERROR", field)
    assert len(alice.api.get("/v2/datasets").json()["datasets"]) == 1
