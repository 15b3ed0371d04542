"""What the facade adds for the web dashboard: conditional GETs (ETag), the estimate endpoint, and /ui itself."""

from __future__ import annotations

import httpx
import pytest

from tensorone.facade.testing import RunningFacade
from tests.integration.facade.harness import CHECKPOINTS, Account, Cluster, shape_a, shape_b


@pytest.mark.parametrize("suffix", ["", "/metrics"], ids=["job", "metrics"])
def test_polling_an_unchanged_job_answers_304_and_a_change_a_new_etag(
    alice: Account, cluster: Cluster, suffix: str
) -> None:
    job_id = alice.job()
    path = f"/v2/training/jobs/{job_id}{suffix}"
    first = alice.api.get(path)
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"

    again = alice.api.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == tag

    cluster.set_status(
        alice.namespace,
        job_id,
        {
            "phase": "running",
            "checkpoints": CHECKPOINTS,
            "history": [{"step": 1, "loss": 2.5, "time": "2024-01-15T10:30:00Z"}],
        },
    )
    changed = alice.api.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert changed.json() == alice.api.get(path).json()


def test_the_metrics_history_carries_map_where_the_trainer_reported_it(
    alice: Account, cluster: Cluster
) -> None:
    job_id = alice.job()
    history = [
        {"step": 4, "loss": 1.5, "time": "2024-01-15T10:01:00Z"},
        {"step": 4, "evalLoss": 1.2, "mAP50": 0.42, "mAP50_95": 0.21, "time": "2024-01-15T10:02:00Z"},
    ]
    cluster.set_status(alice.namespace, job_id, {"phase": "running", "history": history})
    points = alice.api.get(f"/v2/training/jobs/{job_id}/metrics").json()["points"]
    assert points == history


def test_the_list_carries_an_etag_per_query(alice: Account) -> None:
    alice.job()
    everything = alice.api.get("/v2/training/jobs")
    one = alice.api.get("/v2/training/jobs", params={"limit": 1})
    assert everything.headers["ETag"] != one.headers["ETag"] or everything.json() == one.json()
    unchanged = alice.api.get("/v2/training/jobs", headers={"If-None-Match": everything.headers["ETag"]})
    assert unchanged.status_code == 304
    alice.job()
    grown = alice.api.get("/v2/training/jobs", headers={"If-None-Match": everything.headers["ETag"]})
    assert grown.status_code == 200
    assert grown.json()["pagination"]["total"] == everything.json()["pagination"]["total"] + 1


def test_another_accounts_etag_gets_no_304_and_no_job(alice: Account, bob: Account) -> None:
    job_id = alice.job()
    tag = alice.api.get(f"/v2/training/jobs/{job_id}").headers["ETag"]
    response = bob.api.get(f"/v2/training/jobs/{job_id}", headers={"If-None-Match": tag})
    assert response.status_code == 404
    assert response.json()["error"] == "JOB_NOT_FOUND"


@pytest.mark.parametrize("shape", [shape_a, shape_b], ids=["shape-a", "shape-b"])
def test_estimate_answers_cost_and_duration_and_creates_nothing(alice: Account, shape: object) -> None:
    dataset_id = alice.dataset()
    before = alice.api.get("/v2/training/jobs").json()["pagination"]["total"]
    body = shape(dataset_id, maxWorkers=2) if shape is shape_a else shape(dataset_id)  # type: ignore[operator]
    response = alice.api.post("/v2/training/jobs:estimate", json=body)
    assert response.status_code == 200, response.text
    estimate = response.json()
    assert estimate["estimatedCost"]["total"] > 0
    assert estimate["estimatedCost"]["hourly"] > 0
    assert estimate["estimatedDurationSeconds"] > 0
    assert estimate["gpuType"] == "NVIDIA A100"
    assert alice.api.get("/v2/training/jobs").json()["pagination"]["total"] == before

    created = alice.api.post("/v2/training/jobs", json=body).json()
    if shape is shape_a:
        job = created
    else:
        job = alice.api.get(f"/v2/training/jobs/{created['jobId']}").json()
        assert created["estimatedDuration"] == estimate["estimatedDuration"]
    if job["estimatedCost"] is not None:  # admission by the operator fills it; there is none in this harness
        assert job["estimatedCost"]["hourly"] == estimate["estimatedCost"]["hourly"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"config": {"baseModel": "gpt2", "training": {"learning_rate": 5}}},
            "config.training.learning_rate",
        ),
        ({"maxWorkers": 0}, "maxWorkers"),
        ({"status": "running"}, "status"),
    ],
    ids=["learning-rate", "workers", "read-only"],
)
def test_estimate_refuses_what_create_refuses_naming_the_field(
    alice: Account, change: dict[str, object], field: str
) -> None:
    body = {**shape_a(alice.dataset()), **change}
    estimate = alice.api.post("/v2/training/jobs:estimate", json=body)
    create = alice.api.post("/v2/training/jobs", json=body)
    assert estimate.status_code == create.status_code == 400
    assert estimate.json() == create.json()
    assert estimate.json()["details"]["field"] == field


def test_estimate_of_a_missing_dataset_is_dataset_not_found(alice: Account) -> None:
    response = alice.api.post("/v2/training/jobs:estimate", json=shape_a("ds_0000000000000000"))
    assert response.status_code == 404
    assert response.json()["error"] == "DATASET_NOT_FOUND"


def test_estimate_needs_a_key(facade: RunningFacade) -> None:
    response = httpx.post(f"{facade.url}/v2/training/jobs:estimate", json={})
    assert response.status_code == 401


@pytest.mark.parametrize("page", ["/ui/jobs", "/ui/new", "/ui/jobs/job_0123456789abcdef", "/ui/anything"])
def test_every_ui_page_is_the_single_page_with_a_strict_content_policy(
    facade: RunningFacade, page: str
) -> None:
    response = httpx.get(f"{facade.url}{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/assets/app.js">' in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_ui_root_leads_to_the_jobs_page(facade: RunningFacade) -> None:
    response = httpx.get(f"{facade.url}/ui")
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/ui/jobs"


def test_ui_assets_are_served_locally_including_the_chart_library(facade: RunningFacade) -> None:
    page = httpx.get(f"{facade.url}/ui/jobs").text
    for asset in ["/ui/assets/app.js", "/ui/assets/app.css", "/ui/assets/vendor/uplot/uPlot.esm.js"]:
        response = httpx.get(f"{facade.url}{asset}")
        assert response.status_code == 200, asset
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    licence = httpx.get(f"{facade.url}/ui/assets/vendor/uplot/LICENSE")
    assert "MIT" in licence.text
    for escape in ["/ui/assets/%2e%2e/__init__.py", "/ui/assets/..%2f__init__.py"]:
        outside = httpx.get(f"{facade.url}{escape}")
        assert "def install" not in outside.text, escape  # the package's Python source is not served
