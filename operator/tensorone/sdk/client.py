"""``TensorOneClient``: the v2 API in Python.

``api_key`` and ``base_url`` come from the arguments, else ``TENSORONE_API_KEY`` / ``TENSORONE_BASE_URL``.
Idempotent calls (GET, DELETE, stop) are retried with exponential backoff on 429, 5xx and connection errors;
every call is retried on 429 (the server did nothing), honouring ``Retry-After``.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tensorone.sdk.errors import APIConnectionError, TensorOneError, from_response
from tensorone.sdk.models import (
    Checkpoint,
    CreatedJob,
    Dataset,
    DatasetList,
    Event,
    JobList,
    MetricPoint,
    TrainingJob,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
_MAX_BACKOFF = 30.0


class _Transport:
    def __init__(self, api_key: str, base_url: str, timeout: float, max_retries: int):
        self.max_retries = max_retries
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "tensorone-python"},
            timeout=timeout,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        idempotent = method in ("GET", "DELETE", "HEAD") if idempotent is None else idempotent
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, json=json, params=clean)
            except httpx.TransportError as e:
                if not idempotent or attempt >= self.max_retries:
                    raise APIConnectionError("CONNECTION_ERROR", str(e) or type(e).__name__) from e
                self._sleep(attempt, None)
                attempt += 1
                continue
            retryable = response.status_code == 429 or (idempotent and response.status_code >= 500)
            if response.status_code < 400:
                return response
            if not retryable or attempt >= self.max_retries:
                raise self._error(response)
            self._sleep(attempt, response.headers.get("Retry-After"))
            attempt += 1

    @staticmethod
    def _error(response: httpx.Response) -> TensorOneError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return from_response(response.status_code, body)

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        delay = min(_MAX_BACKOFF, 0.25 * 2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(_MAX_BACKOFF, float(retry_after))
        time.sleep(delay)

    def stream(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        with self.http.stream("GET", path, params=params, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise self._error(response)
            yield from response.iter_text()


class Jobs:
    """``client.training.jobs``."""

    def __init__(self, transport: _Transport):
        self._t = transport

    def create(
        self,
        name: str | None = None,
        model_type: str | None = None,
        dataset_id: str | None = None,
        config: dict[str, Any] | None = None,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        gpu_type: str | None = None,
        max_workers: int | None = None,
        priority: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> TrainingJob | CreatedJob:
        """Create a job from keyword arguments (shape A), or send ``body`` as given (either shape).

        Returns the job (shape A) or the compact create response (shape B).
        """
        if body is None:
            fields = {
                "name": name, "description": description, "tags": tags, "modelType": model_type,
                "datasetId": dataset_id, "config": config, "gpuType": gpu_type, "maxWorkers": max_workers,
                "priority": priority,
            }  # fmt: skip
            body = {k: v for k, v in fields.items() if v is not None}
        data = self._t.request("POST", "/v2/training/jobs", json=body).json()
        return CreatedJob.model_validate(data) if "jobId" in data else TrainingJob.model_validate(data)

    def list(
        self,
        *,
        status: str | None = None,
        model_type: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> JobList:
        params = {"status": status, "modelType": model_type, "limit": limit, "offset": offset, "sort": sort,
                  "order": order}  # fmt: skip
        return JobList.model_validate(self._t.request("GET", "/v2/training/jobs", params=params).json())

    def get(self, job_id: str) -> TrainingJob:
        return TrainingJob.model_validate(self._t.request("GET", f"/v2/training/jobs/{job_id}").json())

    def stop(self, job_id: str, *, save_checkpoint: bool = True, reason: str | None = None) -> TrainingJob:
        body: dict[str, Any] = {"saveCheckpoint": save_checkpoint}
        if reason is not None:
            body["reason"] = reason
        response = self._t.request("POST", f"/v2/training/jobs/{job_id}/stop", json=body, idempotent=True)
        return TrainingJob.model_validate(response.json())

    def resume(self, job_id: str, *, checkpoint_id: str | None = None) -> TrainingJob:
        body = {"checkpointId": checkpoint_id} if checkpoint_id else {}
        return TrainingJob.model_validate(
            self._t.request("POST", f"/v2/training/jobs/{job_id}/resume", json=body).json()
        )

    def delete(self, job_id: str, *, purge_checkpoints: bool = False) -> None:
        params = {"purgeCheckpoints": "true"} if purge_checkpoints else None
        self._t.request("DELETE", f"/v2/training/jobs/{job_id}", params=params)

    def logs(
        self, job_id: str, *, worker: int = 0, tail: int | None = None, attempt: int | None = None
    ) -> str:
        """A worker's log; of a finished job, every attempt's (each under a ``==> attempt N <==`` line when there
        were several) unless ``attempt`` picks one."""
        params = {"worker": worker, "tail": tail, "attempt": attempt}
        return self._t.request("GET", f"/v2/training/jobs/{job_id}/logs", params=params).text

    def follow_logs(self, job_id: str, *, worker: int = 0, tail: int | None = None) -> Iterator[str]:
        """The worker's log as it is written (until the worker ends)."""
        params: dict[str, Any] = {"worker": worker, "follow": "true"}
        if tail is not None:
            params["tail"] = tail
        yield from self._t.stream(f"/v2/training/jobs/{job_id}/logs", params)

    def checkpoints(self, job_id: str) -> builtins.list[Checkpoint]:
        data = self._t.request("GET", f"/v2/training/jobs/{job_id}/checkpoints").json()
        return [Checkpoint.model_validate(c) for c in data["checkpoints"]]

    def metrics(self, job_id: str) -> builtins.list[MetricPoint]:
        data = self._t.request("GET", f"/v2/training/jobs/{job_id}/metrics").json()
        return [MetricPoint.model_validate(p) for p in data["points"]]

    def events(self, job_id: str) -> builtins.list[Event]:
        data = self._t.request("GET", f"/v2/training/jobs/{job_id}/events").json()
        return [Event.model_validate(e) for e in data["events"]]

    def wait(
        self,
        job_id: str,
        *,
        until: frozenset[str] | set[str] | None = None,
        timeout: float | None = None,
        poll_interval: float = 2.0,
    ) -> TrainingJob:
        """Poll until the job reaches one of ``until`` (default: any finished status); TimeoutError after
        ``timeout`` seconds."""
        targets = until or {"completed", "failed", "cancelled", "stopped"}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status in targets:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            time.sleep(poll_interval)

    def watch(self, job_id: str, *, poll_interval: float = 2.0) -> Iterator[TrainingJob]:
        """The job every ``poll_interval`` seconds, until it is finished (the last one yielded is)."""
        while True:
            job = self.get(job_id)
            yield job
            if job.finished:
                return
            time.sleep(poll_interval)


class Training:
    def __init__(self, transport: _Transport):
        self.jobs = Jobs(transport)


class Datasets:
    """``client.datasets``."""

    def __init__(self, transport: _Transport):
        self._t = transport

    def create(self, name: str, format: str, source: str, *, description: str | None = None) -> Dataset:
        body = {"name": name, "format": format, "source": source}
        if description is not None:
            body["description"] = description
        return Dataset.model_validate(self._t.request("POST", "/v2/datasets", json=body).json())

    register = create

    def list(self, *, limit: int | None = None, offset: int | None = None) -> DatasetList:
        params = {"limit": limit, "offset": offset}
        return DatasetList.model_validate(self._t.request("GET", "/v2/datasets", params=params).json())

    def get(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._t.request("GET", f"/v2/datasets/{dataset_id}").json())

    def delete(self, dataset_id: str) -> None:
        self._t.request("DELETE", f"/v2/datasets/{dataset_id}")


class TensorOneClient:
    """The v2 API: ``client.training.jobs`` and ``client.datasets``.

    Args:
        api_key: the API key (default ``$TENSORONE_API_KEY``).
        base_url: the API's URL (default ``$TENSORONE_BASE_URL``, else ``http://127.0.0.1:8000``).
        timeout: seconds per HTTP request.
        max_retries: retries of a retryable failure (429; 5xx and connection errors when idempotent).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
    ):
        key = api_key or os.environ.get("TENSORONE_API_KEY")
        if not key:
            raise TensorOneError(
                "UNAUTHORIZED", "No API key: pass api_key= or set TENSORONE_API_KEY", {}, 401
            )
        url = base_url or os.environ.get("TENSORONE_BASE_URL") or DEFAULT_BASE_URL
        self._transport = _Transport(key, url, timeout, max_retries)
        self.base_url = url
        self.training = Training(self._transport)
        self.datasets = Datasets(self._transport)

    def close(self) -> None:
        self._transport.http.close()

    def __enter__(self) -> TensorOneClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
