"""Every job endpoint and error of API.md, over HTTP, against the facade in front of the sandbox."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tensorone.facade.testing import RunningFacade
from tests.integration.facade.harness import (
    CHECKPOINTS,
    JOBS_PATH,
    Account,
    Cluster,
    shape_a,
    shape_b,
)

JOB_ID = re.compile(r"^job_[0-9a-f]{16}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_shape_a_creates_a_pending_job_visible_to_kubectl(alice: Account, cluster: Cluster) -> None:
    dataset = alice.dataset()
    response = alice.api.post("/v2/training/jobs", json=shape_a(dataset, tags=["demo"], maxWorkers=2))
    assert response.status_code == 201
    job = response.json()
    assert JOB_ID.match(job["id"])
    assert (job["status"], job["modelType"], job["datasetId"], job["tags"]) == (
        "pending",
        "llm",
        dataset,
        ["demo"],
    )
    assert job["config"]["parameters"]["rank"] == 8  # defaults filled
    assert TIMESTAMP.match(job["createdAt"])
    assert TIMESTAMP.match(job["updatedAt"])
    assert set(job["progress"]) >= {
        "currentEpoch",
        "totalEpochs",
        "percentage",
        "elapsedTime",
        "remainingTime",
    }
    seen = json.loads(cluster.kubectl("get", "trainingjobs", "-n", alice.namespace, "-o", "json"))
    names = {item["metadata"]["name"]: item["spec"] for item in seen["items"]}
    assert names[job["id"].replace("_", "-")]["maxWorkers"] == 2


def test_a_job_not_admitted_yet_reads_pending_and_is_listed_as_pending(
    alice: Account, cluster: Cluster
) -> None:
    job_id = alice.job()
    assert cluster.job(alice.namespace, job_id).get("status", {}).get("phase") in {None, "queued"}
    assert alice.api.get(f"/v2/training/jobs/{job_id}").json()["status"] == "pending"
    listed = alice.api.get("/v2/training/jobs", params={"status": "pending"}).json()["jobs"]
    assert job_id in [j["id"] for j in listed]
    assert {j["status"] for j in listed} == {"pending"}


def test_shape_b_answers_the_compact_create_response(alice: Account, cluster: Cluster) -> None:
    response = alice.api.post("/v2/training/jobs", json=shape_b(alice.dataset()))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "jobId", "name", "status", "estimatedStartTime", "estimatedDuration", "estimatedCost", "createdAt",
    }  # fmt: skip
    assert JOB_ID.match(body["jobId"])
    assert body["status"] == "queued"
    assert re.match(r"^(\d+d )?(\d+h )?\d+m$", body["estimatedDuration"])
    cost = body["estimatedCost"]
    assert cost["totalCost"] == pytest.approx(cost["gpuCost"] + cost["storageCost"], abs=0.011)
    spec = cluster.job(alice.namespace, body["jobId"])["spec"]
    assert (spec["gpuType"], spec["config"]["training"]["learning_rate"]) == ("a100", 0.001)


def test_shape_b_with_a_dataset_url_registers_the_dataset(alice: Account) -> None:
    body = shape_b("", datasetConfig={"datasetUrl": "/datasets/train.jsonl", "format": "jsonl"})
    response = alice.api.post("/v2/training/jobs", json=body)
    assert response.status_code == 201, response.text
    job = alice.api.get(f"/v2/training/jobs/{response.json()['jobId']}").json()
    dataset = alice.api.get(f"/v2/datasets/{job['datasetId']}").json()
    assert (dataset["source"], dataset["format"]) == ("/datasets/train.jsonl", "jsonl")


BAD_REQUESTS = [
    ("a-learning-rate", "A", {"config": {"baseModel": "gpt2", "training": {"learning_rate": 1.0}}},
     "config.training.learning_rate"),
    ("a-missing-name", "A", {"name": None}, "name"),
    ("a-unknown-field", "A", {"colour": "blue"}, "colour"),
    ("a-multimodal", "A", {"modelType": "multimodal"}, "modelType"),
    ("a-too-many-workers", "A", {"maxWorkers": 33}, "maxWorkers"),
    ("a-unknown-gpu", "A", {"gpuType": "tpu"}, "gpuType"),
    ("a-bad-rank", "A", {"config": {"baseModel": "gpt2", "parameters": {"rank": 0}}}, "config.parameters.rank"),
    ("a-status-is-read-only", "A", {"status": "completed"}, "status"),
    ("a-id-is-read-only", "A", {"id": "job_0000000000000000"}, "id"),
    ("a-namespace-is-read-only", "A", {"namespace": "kube-system"}, "namespace"),
    ("a-owner-is-read-only", "A", {"owner": "mallory"}, "owner"),
    ("b-learning-rate", "B", {"hyperparameters": {"learningRate": 5}}, "hyperparameters.learningRate"),
    ("b-gpu-count", "B", {"infrastructure": {"gpuCount": 9}}, "infrastructure.gpuCount"),
    ("b-framework", "B", {"framework": "tensorflow"}, "framework"),
    ("b-memory-size", "B", {"infrastructure": {"memory": "lots"}}, "infrastructure.memory"),
    ("b-model-type", "B", {"modelConfig": {"modelType": "audio"}}, "modelConfig.modelType"),
    ("b-status-is-read-only", "B", {"status": "running"}, "status"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "change", "field"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_invalid_create_is_refused_naming_the_field_and_creates_nothing(
    alice: Account, cluster: Cluster, shape: str, change: dict[str, Any], field: str
) -> None:
    dataset = alice.dataset()
    body = (shape_a if shape == "A" else shape_b)(dataset)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = alice.api.post("/v2/training/jobs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "CONFIGURATION_ERROR"
    assert error["details"]["field"] == field
    assert error["details"]["reason"]
    assert cluster.http.get(JOBS_PATH.format(ns=alice.namespace)).json()["items"] == []


@pytest.mark.parametrize(
    ("content", "field"),
    [("{not json", "body"), ("[1, 2]", "body"), ("", "body")],
    ids=["not-json", "not-an-object", "empty"],
)
def test_malformed_create_body_is_a_configuration_error(alice: Account, content: str, field: str) -> None:
    response = alice.api.post(
        "/v2/training/jobs", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["details"]["field"]) == ("CONFIGURATION_ERROR", field)


@pytest.mark.parametrize("shape", ["A", "B"])
def test_unknown_dataset_is_dataset_not_found(alice: Account, shape: str) -> None:
    body = (shape_a if shape == "A" else shape_b)("ds_0123456789abcdef")
    response = alice.api.post("/v2/training/jobs", json=body)
    assert response.status_code == 404
    assert response.json()["error"] == "DATASET_NOT_FOUND"
    assert response.json()["details"] == {"datasetId": "ds_0123456789abcdef"}


def test_a_deleted_dataset_is_dataset_not_found_at_once(alice: Account, cluster: Cluster) -> None:
    dataset_id = alice.dataset()
    assert alice.api.post("/v2/training/jobs", json=shape_a(dataset_id)).status_code == 201
    registered_by_kubectl = alice.dataset("other")
    cluster.kubectl("get", "datasets", registered_by_kubectl.replace("_", "-"), "-n", alice.namespace)
    assert alice.api.delete(f"/v2/datasets/{registered_by_kubectl}").status_code == 204
    response = alice.api.post("/v2/training/jobs", json=shape_a(registered_by_kubectl))
    assert (response.status_code, response.json()["error"]) == (404, "DATASET_NOT_FOUND")


@pytest.mark.parametrize(
    ("shape", "change", "requested"),
    [
        ("A", {"gpuType": "rtx4090"}, "rtx4090"),
        ("B", {"infrastructure": {"gpuType": "rtx-4090"}}, "rtx4090"),
        ("B", {"infrastructure": {"gpuType": "h100", "gpuCount": 4}}, "h100"),
    ],
    ids=["a-type-not-offered", "b-type-not-offered", "b-more-gpus-than-any-node"],
)
def test_gpus_the_cluster_lacks_are_insufficient_resources(
    alice: Account, cluster: Cluster, shape: str, change: dict[str, Any], requested: str
) -> None:
    body = (shape_a if shape == "A" else shape_b)(alice.dataset())
    body.update(change)
    response = alice.api.post("/v2/training/jobs", json=body)
    assert response.status_code == 409, response.text
    error = response.json()
    assert error["error"] == "INSUFFICIENT_RESOURCES"
    assert error["details"]["requestedGpuType"] == requested
    assert error["details"]["availableGpuTypes"] == ["a100", "h100"]
    assert cluster.http.get(JOBS_PATH.format(ns=alice.namespace)).json()["items"] == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer t1_not-a-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-key", "unknown-key", "other-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v2/training/jobs"), ("POST", "/v2/training/jobs"), ("GET", "/v2/datasets")],
)
def test_requests_without_a_valid_key_are_unauthorized(
    facade: RunningFacade, headers: dict[str, str], method: str, path: str
) -> None:
    response = httpx.request(method, facade.url + path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"


def test_a_bare_key_without_scheme_is_accepted(alice: Account, facade: RunningFacade) -> None:
    response = httpx.get(facade.url + "/v2/training/jobs", headers={"Authorization": alice.key})
    assert response.status_code == 200


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [j["id"] for j in response.json()["jobs"]]


def test_list_filters_sorts_and_paginates_on_the_server(alice: Account, cluster: Cluster) -> None:
    dataset = alice.dataset()
    ids = [alice.job(dataset, name=f"job-{i}") for i in range(5)]
    vision = alice.api.post(
        "/v2/training/jobs",
        json={"name": "job-v", "modelType": "vision", "datasetId": dataset, "config": {"num_classes": 3}},
    ).json()["id"]
    cluster.set_status(alice.namespace, ids[0], {"phase": "running"})
    cluster.set_status(alice.namespace, ids[1], {"phase": "completed"})

    assert _ids(alice.api.get("/v2/training/jobs", params={"modelType": "vision"})) == [vision]
    assert _ids(alice.api.get("/v2/training/jobs", params={"status": "running"})) == [ids[0]]
    by_name = _ids(alice.api.get("/v2/training/jobs", params={"sort": "name", "order": "asc"}))
    assert by_name == [*ids, vision]
    page = alice.api.get(
        "/v2/training/jobs", params={"sort": "name", "order": "asc", "limit": 2, "offset": 4}
    )
    assert _ids(page) == [ids[4], vision]
    assert page.json()["pagination"] == {"total": 6, "limit": 2, "offset": 4, "hasMore": False}
    first = alice.api.get("/v2/training/jobs", params={"limit": 2}).json()["pagination"]
    assert first == {"total": 6, "limit": 2, "offset": 0, "hasMore": True}
    summary = alice.api.get("/v2/training/jobs").json()["jobs"][0]
    assert set(summary) == {
        "id", "name", "status", "modelType", "progress", "metrics", "createdAt", "startedAt", "estimatedCompletion",
    }  # fmt: skip


def test_list_items_agree_with_get_before_and_after_a_change(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    (listed,) = alice.api.get("/v2/training/jobs").json()["jobs"]
    (again,) = alice.api.get("/v2/training/jobs").json()["jobs"]
    full = alice.api.get(f"/v2/training/jobs/{job_id}").json()
    assert listed == again == {k: full[k] for k in listed}
    progress = {"currentEpoch": 1, "totalEpochs": 3, "currentStep": 10, "totalSteps": 30, "percentage": 33.3,
                "elapsedTime": 60.0, "remainingTime": 3600.0}  # fmt: skip
    cluster.set_status(alice.namespace, job_id, {"phase": "running", "progress": progress})
    deadline = time.monotonic() + 10
    while (item := alice.api.get("/v2/training/jobs").json()["jobs"][0])["status"] != "running":
        assert time.monotonic() < deadline, item
        time.sleep(0.05)
    assert item["progress"]["percentage"] == 33.3
    # counted from the moment of asking, so never served from an earlier answer
    estimate = datetime.fromisoformat(item["estimatedCompletion"].replace("Z", "+00:00"))
    assert abs((estimate - datetime.now(UTC)).total_seconds() - 3600) < 60
    full = alice.api.get(f"/v2/training/jobs/{job_id}").json()
    assert {k: v for k, v in item.items() if k != "estimatedCompletion"} == {
        k: full[k] for k in item if k != "estimatedCompletion"
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "size"}, "sort"),
        ({"order": "up"}, "order"),
        ({"status": "sleeping"}, "status"),
        ({"modelType": "audio"}, "modelType"),
    ],
    ids=lambda v: str(v),
)
def test_invalid_list_parameters_name_the_parameter(
    alice: Account, params: dict[str, Any], field: str
) -> None:
    response = alice.api.get("/v2/training/jobs", params=params)
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["details"]["field"]) == ("CONFIGURATION_ERROR", field)


@pytest.mark.parametrize("job_id", ["job_0123456789abcdef", "job_NOT VALID", "nonsense"])
@pytest.mark.parametrize("suffix", ["", "/stop", "/resume", "/logs", "/checkpoints", "/events", "/metrics"])
def test_unknown_job_ids_are_job_not_found(alice: Account, job_id: str, suffix: str) -> None:
    method = "POST" if suffix in ("/stop", "/resume") else "GET"
    response = alice.api.request(method, f"/v2/training/jobs/{job_id}{suffix}")
    assert response.status_code == 404
    assert response.json() == {
        "error": "JOB_NOT_FOUND",
        "message": f"Training job {job_id} not found",
        "details": {"jobId": job_id},
    }


def test_get_returns_the_full_job_object(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    cluster.set_status(
        alice.namespace,
        job_id,
        {
            "phase": "running",
            "startedAt": "2024-01-15T10:00:00Z",
            "progress": {"currentEpoch": 1, "totalEpochs": 3, "currentStep": 10, "totalSteps": 30,
                         "percentage": 33.3, "elapsedTime": 60.0, "remainingTime": 120.0},
            "metrics": {"currentLoss": 1.25, "bestLoss": 1.2, "learningRate": 0.0002,
                        "throughput": "1250 tokens/sec", "memoryUsage": "38.2GB"},
            "resourceAllocation": {"gpuType": "NVIDIA A100", "workers": 1, "memoryPerWorker": "40GB"},
            "estimatedCost": {"hourly": 2.5, "total": 7.5},
            "checkpoints": CHECKPOINTS,
        },
    )  # fmt: skip
    job = alice.api.get(f"/v2/training/jobs/{job_id}").json()
    assert job["status"] == "running"
    assert job["progress"]["percentage"] == 33.3
    assert job["metrics"]["currentLoss"] == 1.25
    assert job["metrics"]["throughput"] == "1250 tokens/sec"
    assert job["resourceAllocation"] == {"gpuType": "NVIDIA A100", "workers": 1, "memoryPerWorker": "40GB"}
    assert job["estimatedCost"] == {"hourly": 2.5, "total": 7.5}
    assert [c["id"] for c in job["checkpoints"]] == ["ckpt_epoch_1", "ckpt_epoch_2"]
    assert job["startedAt"] == "2024-01-15T10:00:00Z"
    assert TIMESTAMP.match(job["estimatedCompletion"])


@pytest.mark.parametrize(
    ("phase", "code"),
    [
        ("queued", 200), ("pending", 200), ("running", 200),
        ("completed", 409), ("failed", 409), ("cancelled", 409), ("stopped", 409),
    ],
)  # fmt: skip
def test_stop_suspends_active_jobs_and_refuses_finished_ones(
    alice: Account, cluster: Cluster, phase: str, code: int
) -> None:
    job_id = alice.job()
    cluster.set_status(alice.namespace, job_id, {"phase": phase})
    response = alice.api.post(
        f"/v2/training/jobs/{job_id}/stop", json={"saveCheckpoint": False, "reason": "x"}
    )
    assert response.status_code == code, response.text
    spec = cluster.job(alice.namespace, job_id)["spec"]
    if code == 200:
        assert response.json()["status"] == "stopping"
        assert (spec["suspend"], spec["saveCheckpointOnStop"]) == (True, False)
        assert alice.api.get(f"/v2/training/jobs/{job_id}").json()["status"] == "stopping"
    else:
        assert response.json()["error"] == "INVALID_STATE"
        assert response.json()["details"]["status"] == phase
        assert spec.get("suspend", False) is False


def test_stop_without_a_body_saves_a_checkpoint(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    assert alice.api.post(f"/v2/training/jobs/{job_id}/stop").status_code == 200
    assert cluster.job(alice.namespace, job_id)["spec"]["saveCheckpointOnStop"] is True


@pytest.mark.parametrize(
    ("phase", "checkpoints", "body", "code", "error", "resume_from"),
    [
        ("stopped", CHECKPOINTS, None, 200, None, "ckpt_epoch_2"),
        ("cancelled", CHECKPOINTS, {"checkpointId": "ckpt_epoch_1"}, 200, None, "ckpt_epoch_1"),
        ("failed", CHECKPOINTS, {}, 200, None, "ckpt_epoch_2"),
        ("stopped", CHECKPOINTS, {"checkpointId": "ckpt_epoch_9"}, 404, "CHECKPOINT_NOT_FOUND", None),
        ("stopped", [], None, 409, "INVALID_STATE", None),
        ("running", CHECKPOINTS, None, 409, "INVALID_STATE", None),
        ("completed", CHECKPOINTS, None, 409, "INVALID_STATE", None),
    ],
    ids=[
        "latest",
        "named",
        "failed-with-checkpoints",
        "unknown-checkpoint",
        "no-checkpoint",
        "running",
        "completed",
    ],
)
def test_resume(
    alice: Account,
    cluster: Cluster,
    phase: str,
    checkpoints: list[dict[str, Any]],
    body: dict[str, Any] | None,
    code: int,
    error: str | None,
    resume_from: str | None,
) -> None:
    job_id = alice.job()
    cluster.set_status(alice.namespace, job_id, {"phase": phase, "checkpoints": checkpoints})
    response = alice.api.post(f"/v2/training/jobs/{job_id}/resume", json=body)
    assert response.status_code == code, response.text
    spec = cluster.job(alice.namespace, job_id)["spec"]
    assert spec.get("resumeFrom") == resume_from
    if error:
        assert response.json()["error"] == error
        key = "checkpointId" if error == "CHECKPOINT_NOT_FOUND" else "status"
        assert response.json()["details"][key] == (body or {}).get("checkpointId", phase)
    else:
        assert response.json()["status"] == "pending"


def test_delete_removes_the_job(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    assert (
        alice.api.delete(f"/v2/training/jobs/{job_id}", params={"purgeCheckpoints": "true"}).status_code
        == 204
    )
    assert alice.api.get(f"/v2/training/jobs/{job_id}").status_code == 404
    assert cluster.http.get(JOBS_PATH.format(ns=alice.namespace)).json()["items"] == []
    assert alice.api.delete(f"/v2/training/jobs/{job_id}").json()["error"] == "JOB_NOT_FOUND"


def test_checkpoints_metrics_history_and_events(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    history = [
        {"step": 2, "loss": 1.1, "learningRate": 0.0002, "time": "2024-01-15T10:02:00Z"},
        {"step": 1, "loss": 1.4, "epoch": 0.5, "throughput": 900.0, "time": "2024-01-15T10:01:00Z"},
    ]
    cluster.set_status(
        alice.namespace, job_id, {"phase": "running", "checkpoints": CHECKPOINTS, "history": history}
    )
    checkpoints = alice.api.get(f"/v2/training/jobs/{job_id}/checkpoints").json()["checkpoints"]
    assert checkpoints[0] == {
        "id": "ckpt_epoch_1", "epoch": 1, "step": 10, "loss": 1.5, "createdAt": "2024-01-15T10:30:00Z", "size": "1.0MB",
    }  # fmt: skip
    points = alice.api.get(f"/v2/training/jobs/{job_id}/metrics").json()["points"]
    assert points == [
        {"step": 1, "epoch": 0.5, "loss": 1.4, "throughput": 900.0, "time": "2024-01-15T10:01:00Z"},
        {"step": 2, "loss": 1.1, "learningRate": 0.0002, "time": "2024-01-15T10:02:00Z"},
    ]
    name = job_id.replace("_", "-")
    event = {
        "metadata": {"name": f"{name}.1", "namespace": alice.namespace},
        "involvedObject": {"kind": "TrainingJob", "name": name, "namespace": alice.namespace},
        "reason": "Admitted", "message": "job admitted", "type": "Normal", "count": 1,
        "lastTimestamp": "2024-01-15T10:00:00Z",
    }  # fmt: skip
    cluster.http.post(f"/api/v1/namespaces/{alice.namespace}/events", json=event).raise_for_status()
    events = alice.api.get(f"/v2/training/jobs/{job_id}/events").json()["events"]
    assert [(e["reason"], e["message"], e["object"]) for e in events] == [
        ("Admitted", "job admitted", f"TrainingJob/{name}")
    ]


def test_logs_of_a_finished_job_stay_readable(alice: Account, cluster: Cluster) -> None:
    job_id = alice.job()
    name = job_id.replace("_", "-")
    kept = {
        "metadata": {"name": f"{name}-logs"},
        "data": {"worker-0.log": "step 1 loss 1.5\nstep 2 loss 1.2\n"},
    }
    cluster.http.post(f"/api/v1/namespaces/{alice.namespace}/configmaps", json=kept).raise_for_status()
    assert alice.api.get(f"/v2/training/jobs/{job_id}/logs").text == "step 1 loss 1.5\nstep 2 loss 1.2\n"
    assert alice.api.get(f"/v2/training/jobs/{job_id}/logs", params={"tail": 1}).text == "step 2 loss 1.2\n"
    followed = alice.api.get(f"/v2/training/jobs/{job_id}/logs", params={"follow": "true"})
    assert followed.text.endswith("step 2 loss 1.2\n")
    bad_worker = alice.api.get(f"/v2/training/jobs/{job_id}/logs", params={"worker": 3})
    assert (bad_worker.status_code, bad_worker.json()["details"]["field"]) == (400, "worker")


def test_a_job_created_with_kubectl_is_visible_through_rest(alice: Account, cluster: Cluster) -> None:
    dataset = alice.dataset()
    manifest = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": "job-00000000000000aa", "namespace": alice.namespace},
        "spec": {"displayName": "from kubectl", "modelType": "llm", "datasetRef": {"name": dataset.replace("_", "-")},
                 "config": {"baseModel": "gpt2"}},
    }  # fmt: skip
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    job = alice.api.get("/v2/training/jobs/job_00000000000000aa")
    assert job.status_code == 200, job.text
    assert (job.json()["name"], job.json()["datasetId"]) == ("from kubectl", dataset)
    assert "job_00000000000000aa" in _ids(alice.api.get("/v2/training/jobs"))
