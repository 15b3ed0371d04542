"""Datasets, the service endpoints, and the limits that protect the platform from one client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tensorone.facade.testing import RunningFacade, running_facade
from tensorone.sandbox.testing import RunningSandbox
from tests.integration.facade.harness import Account, Cluster, new_account, shape_a


def test_dataset_register_list_get_delete(alice: Account, cluster: Cluster) -> None:
    created = alice.api.post(
        "/v2/datasets", json={"name": "corpus", "format": "jsonl", "source": "/datasets/corpus.jsonl"}
    )
    assert created.status_code == 201
    dataset = created.json()
    assert re.match(r"^ds_[0-9a-f]{16}$", dataset["id"])
    assert (dataset["name"], dataset["format"], dataset["source"]) == (
        "corpus",
        "jsonl",
        "/datasets/corpus.jsonl",
    )
    assert alice.api.get(f"/v2/datasets/{dataset['id']}").json() == dataset
    listing = alice.api.get("/v2/datasets").json()
    assert listing["datasets"] == [dataset]
    assert listing["pagination"] == {"total": 1, "limit": 50, "offset": 0, "hasMore": False}
    cluster.kubectl("get", "datasets", dataset["id"].replace("_", "-"), "-n", alice.namespace)
    assert alice.api.delete(f"/v2/datasets/{dataset['id']}").status_code == 204
    assert alice.api.get(f"/v2/datasets/{dataset['id']}").json()["error"] == "DATASET_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "d", "format": "xml", "source": "/datasets/d"}, "format"),
        ({"name": "d", "format": "json", "source": "relative/path"}, "source"),
        ({"name": "", "format": "json", "source": "/datasets/d"}, "name"),
        ({"format": "json", "source": "/datasets/d"}, "name"),
    ],
    ids=["format", "source", "empty-name", "missing-name"],
)
def test_invalid_dataset_is_refused(alice: Account, body: dict[str, str], field: str) -> None:
    response = alice.api.post("/v2/datasets", json=body)
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["details"]["field"]) == ("CONFIGURATION_ERROR", field)
    assert alice.api.get("/v2/datasets").json()["datasets"] == []


def test_a_dataset_in_use_by_an_unfinished_job_is_kept(alice: Account) -> None:
    dataset = alice.dataset()
    alice.job(dataset)
    response = alice.api.delete(f"/v2/datasets/{dataset}")
    assert (response.status_code, response.json()["error"]) == (409, "INVALID_STATE")


def test_health_readiness_metrics_openapi_and_docs(facade: RunningFacade, alice: Account) -> None:
    assert httpx.get(f"{facade.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{facade.url}/readyz").json() == {"status": "ok"}
    alice.api.get("/v2/training/jobs")
    metrics = httpx.get(f"{facade.url}/metrics").text
    assert 'tensorone_facade_requests_total{method="GET",route="/v2/training/jobs",status="200"}' in metrics
    document = httpx.get(f"{facade.url}/openapi.json").json()
    create = document["paths"]["/v2/training/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert {"shapeA_llm", "shapeB_compact"} <= set(create["examples"])
    assert {"CreateJobRequest", "CreateJobRequestCompact", "ErrorBody"} <= set(
        document["components"]["schemas"]
    )
    assert httpx.get(f"{facade.url}/docs").status_code == 200


def test_unknown_paths_answer_the_error_shape(alice: Account) -> None:
    response = alice.api.get("/v2/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


@pytest.fixture(scope="module")
def strict_facade(cluster_sandbox: RunningSandbox) -> Iterator[RunningFacade]:
    with running_facade(
        str(cluster_sandbox.kubeconfig_path),
        rate_limit_per_second=1,
        rate_limit_burst=6,
        max_body_bytes=4096,
        max_active_jobs=2,
        max_active_gpus=3,
    ) as running:
        yield running


def test_too_many_requests_are_rate_limited_with_retry_after(strict_facade: RunningFacade) -> None:
    account = new_account(strict_facade, "busy")
    answers = [account.api.get("/v2/training/jobs") for _ in range(8)]
    assert [a.status_code for a in answers[:6]] == [200] * 6
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["error"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) == limited.json()["details"]["retryAfter"] >= 1
    other = new_account(strict_facade, "calm")
    assert other.api.get("/v2/training/jobs").status_code == 200  # limits are per key


def test_oversized_bodies_are_refused(strict_facade: RunningFacade) -> None:
    account = new_account(strict_facade, "big")
    response = account.api.post("/v2/training/jobs", json={"name": "x" * 10_000})
    assert response.status_code == 413
    assert response.json()["details"]["field"] == "body"


@pytest.mark.parametrize(
    ("first_workers", "second_workers", "resource"), [(1, 1, "jobs"), (2, 2, "gpus")], ids=["jobs", "gpus"]
)
def test_per_account_caps_on_jobs_and_gpus(
    strict_facade: RunningFacade, first_workers: int, second_workers: int, resource: str
) -> None:
    account = new_account(strict_facade, "capped")
    dataset = account.dataset()
    post = account.api.post
    assert post("/v2/training/jobs", json=shape_a(dataset, maxWorkers=first_workers)).status_code == 201
    if resource == "jobs":
        assert post("/v2/training/jobs", json=shape_a(dataset, maxWorkers=second_workers)).status_code == 201
    refused = post("/v2/training/jobs", json=shape_a(dataset, maxWorkers=second_workers))
    assert refused.status_code == 429
    assert (refused.json()["error"], refused.json()["details"]["resource"]) == ("QUOTA_EXCEEDED", resource)
