"""The v2 API's endpoints as data: what to send and how to read the answer.

Shared by ``TensorOneClient`` and ``AsyncTensorOneClient``, which differ only in how they send, so the two
clients cannot disagree on a path, a parameter name or a response shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tensorone.api import rest
from tensorone.sdk.models import (
    Checkpoint,
    CreatedJob,
    Dataset,
    DatasetList,
    Event,
    JobList,
    MetricPoint,
    TrainingJob,
    parse,
)

T = TypeVar("T")

JOBS = "/v2/training/jobs"
DATASETS = "/v2/datasets"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reader of its answer.

    ``idempotent`` calls are retried on 5xx and connection errors too (every call is retried on 429: the
    server did nothing).
    """

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    idempotent: bool = False

    def query(self) -> dict[str, Any]:
        """The query parameters that have a value."""
        return {k: v for k, v in self.params.items() if v is not None}


def _segment(identifier: str) -> str:
    # An id is one path segment: "a/../b" must not reach another route.
    return quote(identifier, safe="")


def _job(job_id: str, suffix: str = "") -> str:
    return f"{JOBS}/{_segment(job_id)}{suffix}"


def _read_job(response: httpx.Response) -> TrainingJob:
    return parse(TrainingJob, response.json())


def _read_created(response: httpx.Response) -> TrainingJob | CreatedJob:
    data = response.json()
    return parse(CreatedJob, data) if "jobId" in data else parse(TrainingJob, data)


def _read_nothing(_: httpx.Response) -> None:
    return None


def create_job(body: dict[str, Any]) -> Call[TrainingJob | CreatedJob]:
    return Call("POST", JOBS, _read_created, json=body)


def job_body(
    *,
    name: str | None,
    model_type: str | None,
    dataset_id: str | None,
    config: dict[str, Any] | None,
    description: str | None,
    tags: list[str] | None,
    gpu_type: str | None,
    max_workers: int | None,
    priority: str | None,
) -> dict[str, Any]:
    """Shape A's body from keyword arguments; the arguments not given are left to the server's defaults."""
    fields = {
        "name": name, "description": description, "tags": tags, "modelType": model_type,
        "datasetId": dataset_id, "config": config, "gpuType": gpu_type, "maxWorkers": max_workers,
        "priority": priority,
    }  # fmt: skip
    return {k: v for k, v in fields.items() if v is not None}


def list_jobs(
    *,
    status: str | None = None,
    model_type: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort: str | None = None,
    order: str | None = None,
) -> Call[JobList]:
    params = {"status": status, "modelType": model_type, "limit": limit, "offset": offset, "sort": sort,
              "order": order}  # fmt: skip
    return Call("GET", JOBS, lambda r: parse(JobList, r.json()), params=params, idempotent=True)


def get_job(job_id: str) -> Call[TrainingJob]:
    return Call("GET", _job(job_id), _read_job, idempotent=True)


def stop_job(job_id: str, *, save_checkpoint: bool, reason: str | None) -> Call[TrainingJob]:
    body: dict[str, Any] = {"saveCheckpoint": save_checkpoint}
    if reason is not None:
        body["reason"] = reason
    # Stopping a stopping job changes nothing, so a retried stop is safe.
    return Call("POST", _job(job_id, "/stop"), _read_job, json=body, idempotent=True)


def resume_job(job_id: str, *, checkpoint_id: str | None) -> Call[TrainingJob]:
    body = {"checkpointId": checkpoint_id} if checkpoint_id else {}
    return Call("POST", _job(job_id, "/resume"), _read_job, json=body)


def delete_job(job_id: str, *, purge_checkpoints: bool) -> Call[None]:
    params = {"purgeCheckpoints": "true" if purge_checkpoints else None}
    return Call("DELETE", _job(job_id), _read_nothing, params=params, idempotent=True)


def logs_params(worker: int, tail: int | None, *, follow: bool) -> dict[str, Any]:
    return {"worker": worker, "tail": tail, "follow": "true" if follow else None}


def job_logs(job_id: str, *, worker: int, tail: int | None, attempt: int | None = None) -> Call[str]:
    params = {**logs_params(worker, tail, follow=False), "attempt": attempt}
    return Call("GET", _job(job_id, "/logs"), lambda r: r.text, params=params, idempotent=True)


def artifact_path(job_id: str, name: str) -> str:
    return _job(job_id, f"/artifacts/{_segment(name)}")


def logs_path(job_id: str) -> str:
    return _job(job_id, "/logs")


def job_checkpoints(job_id: str) -> Call[list[Checkpoint]]:
    def read(response: httpx.Response) -> list[Checkpoint]:
        return parse(rest.CheckpointListResponse, response.json()).checkpoints

    return Call("GET", _job(job_id, "/checkpoints"), read, idempotent=True)


def job_metrics(job_id: str) -> Call[list[MetricPoint]]:
    def read(response: httpx.Response) -> list[MetricPoint]:
        return parse(rest.MetricsHistoryResponse, response.json()).points

    return Call("GET", _job(job_id, "/metrics"), read, idempotent=True)


def job_events(job_id: str) -> Call[list[Event]]:
    def read(response: httpx.Response) -> list[Event]:
        return parse(rest.EventListResponse, response.json()).events

    return Call("GET", _job(job_id, "/events"), read, idempotent=True)


def create_dataset(name: str, format: str, source: str, description: str | None) -> Call[Dataset]:
    body = {"name": name, "format": format, "source": source}
    if description is not None:
        body["description"] = description
    return Call("POST", DATASETS, lambda r: parse(Dataset, r.json()), json=body)


def list_datasets(*, limit: int | None = None, offset: int | None = None) -> Call[DatasetList]:
    params = {"limit": limit, "offset": offset}
    return Call("GET", DATASETS, lambda r: parse(DatasetList, r.json()), params=params, idempotent=True)


def get_dataset(dataset_id: str) -> Call[Dataset]:
    path = f"{DATASETS}/{_segment(dataset_id)}"
    return Call("GET", path, lambda r: parse(Dataset, r.json()), idempotent=True)


def delete_dataset(dataset_id: str) -> Call[None]:
    return Call("DELETE", f"{DATASETS}/{_segment(dataset_id)}", _read_nothing, idempotent=True)
