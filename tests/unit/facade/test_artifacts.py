"""Which artifact a download may read, and the reader pod that reads it: decided from the job's status alone."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.api import names
from tensorone.api.errors import ApiError, ErrorCode
from tensorone.api.resources import TrainingJobResource, training_job_manifest
from tensorone.api.translate import plan_create
from tensorone.facade.artifacts import artifact_entry, build_reader_pod, listed_artifact
from tensorone.facade.settings import Settings

NS = "tensorone-acct"
JOB = "job-0123456789abcdef"
ADAPTER = {
    "name": "adapter",
    "path": f"/checkpoints/{NS}/{JOB}/artifacts/adapter",
    "kind": "folder",
    "size": "1.2MB",
    "sizeBytes": 1_200_000,
}


def job(phase: str, *artifacts: dict[str, Any]) -> TrainingJobResource:
    spec = plan_create(
        {"name": "j", "modelType": "llm", "datasetId": "ds_0123456789abcdef", "config": {"baseModel": "gpt2"}}
    ).spec
    obj = training_job_manifest(JOB, NS, spec)
    obj["metadata"]["uid"] = "0b7c5c9e-1f1e-4c36-9d55-6a1f0e3c2b11"
    obj["status"] = {"phase": phase, "artifacts": list(artifacts)}
    return TrainingJobResource.from_k8s(obj)


def refusal(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def test_a_listed_artifact_of_a_finished_job_is_found() -> None:
    artifact = listed_artifact(job("completed", ADAPTER), "adapter")
    assert artifact.path == ADAPTER["path"]
    assert artifact_entry(artifact, NS, JOB) == "adapter"


def test_an_unlisted_name_is_artifact_not_found_naming_it_and_what_there_is() -> None:
    error = refusal(lambda: listed_artifact(job("completed", ADAPTER), "merged"))
    assert error.code == ErrorCode.ARTIFACT_NOT_FOUND
    assert error.http_status == 404
    assert error.details["artifact"] == "merged"
    assert error.details["availableArtifacts"] == ["adapter"]


@pytest.mark.parametrize("name", ["../adapter", "Adapter", "a" * 64, "adapter.tar", ""], ids=str)
def test_a_malformed_name_is_a_configuration_error_on_name(name: str) -> None:
    error = refusal(lambda: listed_artifact(job("completed", ADAPTER), name))
    assert error.code == ErrorCode.CONFIGURATION_ERROR
    assert error.details["field"] == "name"
    assert name not in error.message or not name


@pytest.mark.parametrize("phase", ["queued", "pending", "running", "stopping"])
def test_an_unfinished_job_is_invalid_state_with_its_status(phase: str) -> None:
    error = refusal(lambda: listed_artifact(job(phase, ADAPTER), "adapter"))
    assert error.code == ErrorCode.INVALID_STATE
    assert error.details["status"] == ("pending" if phase == "queued" else phase)


@pytest.mark.parametrize(
    "path",
    [
        f"/checkpoints/{NS}/job-ffffffffffffffff/artifacts/adapter",  # another job's folder
        f"/checkpoints/other-ns/{JOB}/artifacts/adapter",
        f"/checkpoints/{NS}/{JOB}/artifacts/adapter/nested",
        f"/checkpoints/{NS}/{JOB}/ckpt_step_5",
        f"/checkpoints/{NS}/{JOB}/artifacts/.hidden",
    ],
    ids=["other-job", "other-namespace", "nested", "not-artifacts", "hidden"],
)
def test_a_listed_path_outside_the_jobs_artifacts_folder_is_not_served(path: str) -> None:
    artifact = listed_artifact(job("completed", {**ADAPTER, "path": path}), "adapter")
    error = refusal(lambda: artifact_entry(artifact, NS, JOB))
    assert error.code == ErrorCode.ARTIFACT_NOT_FOUND


def test_the_reader_pod_mounts_only_the_jobs_volume_read_only_without_credentials_or_privileges() -> None:
    pod = build_reader_pod(Settings(), NS, job("completed", ADAPTER))
    spec = pod["spec"]
    (volume,) = spec["volumes"]
    assert volume["persistentVolumeClaim"] == {
        "claimName": names.checkpoint_claim_name(JOB),
        "readOnly": True,
    }
    (container,) = spec["containers"]
    assert all(m["readOnly"] for m in container["volumeMounts"])
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # Owned by the job (deleted with it), and not counted as one of its workers by the operator.
    assert pod["metadata"]["ownerReferences"][0]["name"] == JOB
    assert names.JOB_LABEL not in pod["metadata"]["labels"]
    assert pod["metadata"]["labels"][names.ARTIFACTS_OF_LABEL] == JOB
    root = container["command"][container["command"].index("--root") + 1]
    assert root.endswith(f"/{NS}/{JOB}/{names.ARTIFACTS_DIR}")
