"""Deterministic names and labels of a job's children: the same job always asks for the same objects, so a
restarted or racing operator finds (409) what an earlier one created instead of duplicating it."""

from __future__ import annotations

from tensorone.api.spec import API_GROUP

JOB_LABEL = f"{API_GROUP}/job"
ATTEMPT_LABEL = f"{API_GROUP}/attempt"
WORKER_INDEX_LABEL = f"{API_GROUP}/worker-index"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "tensorone-operator"
FINALIZER = f"{API_GROUP}/stop-workers"
FIELD_MANAGER = "tensorone-operator"


def worker_pod_name(job: str, index: int) -> str:
    return f"{job}-worker-{index}"


def worker_hostname(index: int) -> str:
    return f"worker-{index}"


def service_name(job: str) -> str:
    return f"{job}-workers"


def config_map_name(job: str) -> str:
    return f"{job}-config"


def checkpoint_claim_name(job: str) -> str:
    return f"{job}-checkpoints"


def logs_config_map_name(job: str, attempt: int) -> str:
    return f"{job}-logs-{attempt}"


def job_labels(job: str) -> dict[str, str]:
    return {JOB_LABEL: job, MANAGED_BY_LABEL: MANAGED_BY}
