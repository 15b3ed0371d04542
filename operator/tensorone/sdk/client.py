"""``TensorOneClient``: the v2 API in Python.

``api_key`` and ``base_url`` come from the arguments, else ``TENSORONE_API_KEY`` / ``TENSORONE_BASE_URL``.
Idempotent calls (GET, DELETE, stop) are retried with exponential backoff on 429, 5xx and connection errors;
every call is retried on 429 (the server did nothing), honouring ``Retry-After``. The endpoints themselves
are described once in ``tensorone.sdk.calls``; ``AsyncTensorOneClient`` sends the same calls.
"""

from __future__ import annotations

import builtins
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tensorone.sdk import calls, download
from tensorone.sdk.errors import APIConnectionError, TensorOneError, from_response
from tensorone.sdk.models import (
    Checkpoint,
    CreatedJob,
    Dataset,
    DatasetList,
    Event,
    JobList,
    JobSummary,
    MetricPoint,
    TrainingJob,
)
from tensorone.sdk.policy import JobWait, retry_delay

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_PAGE_SIZE = 100  # the API's largest page: fewest round trips
USER_AGENT = "tensorone-python"

T = TypeVar("T")


def resolve_settings(api_key: str | None, base_url: str | None) -> tuple[str, str]:
    """The key and URL from the arguments, else the environment; no key is an error before any request."""
    key = api_key or os.environ.get("TENSORONE_API_KEY")
    if not key:
        raise TensorOneError("UNAUTHORIZED", "No API key: pass api_key= or set TENSORONE_API_KEY", {}, 401)
    url = base_url or os.environ.get("TENSORONE_BASE_URL") or DEFAULT_BASE_URL
    return key, url.rstrip("/")


def error_of(response: httpx.Response) -> TensorOneError:
    """The typed exception for an error answer (its body read already)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return from_response(response.status_code, body)


class _Transport:
    def __init__(self, api_key: str, base_url: str, timeout: float, max_retries: int):
        self.max_retries = max_retries
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=timeout,
        )

    def send(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self.http.request(call.method, call.path, json=call.json, params=call.query())
            except httpx.TransportError as e:
                delay = retry_delay(attempt=attempt, max_retries=self.max_retries, idempotent=call.idempotent,
                                    status_code=None, retry_after=None)  # fmt: skip
                if delay is None:
                    raise APIConnectionError("CONNECTION_ERROR", str(e) or type(e).__name__) from e
            else:
                if response.status_code < 400:
                    return call.read(response)
                delay = retry_delay(attempt=attempt, max_retries=self.max_retries, idempotent=call.idempotent,
                                    status_code=response.status_code,
                                    retry_after=response.headers.get("Retry-After"))  # fmt: skip
                if delay is None:
                    raise error_of(response)
            time.sleep(delay)
            attempt += 1

    def stream(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        query = {k: v for k, v in params.items() if v is not None}
        with self.http.stream("GET", path, params=query, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise error_of(response)
            yield from response.iter_text()

    def download(self, path: str, folder: Path) -> tuple[Path, httpx.Headers]:
        """The body of a GET, streamed into a new file in ``folder``; that file and the answer's headers."""
        with self.http.stream("GET", path, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise error_of(response)
            handle, name = tempfile.mkstemp(prefix=".tensorone-download-", dir=folder)
            try:
                with os.fdopen(handle, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
            except BaseException:
                os.unlink(name)
                raise
            return Path(name), response.headers


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
        tags: builtins.list[str] | None = None,
        gpu_type: str | None = None,
        max_workers: int | None = None,
        priority: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> TrainingJob | CreatedJob:
        """Create a job from keyword arguments (shape A), or send ``body`` as given (either shape).

        Returns the job (shape A) or the compact create response (shape B).
        """
        if body is None:
            body = calls.job_body(
                name=name, model_type=model_type, dataset_id=dataset_id, config=config, description=description,
                tags=tags, gpu_type=gpu_type, max_workers=max_workers, priority=priority,
            )  # fmt: skip
        return self._t.send(calls.create_job(body))

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
        """One page of jobs (the short form); ``list_all`` walks every page."""
        return self._t.send(calls.list_jobs(status=status, model_type=model_type, limit=limit, offset=offset,
                                            sort=sort, order=order))  # fmt: skip

    def list_all(
        self,
        *,
        status: str | None = None,
        model_type: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[JobSummary]:
        """Every job matching the filters, fetching pages of ``page_size`` as the loop goes.

        A job that moves to a later page while the loop runs (a job created meanwhile shifts the pages) is
        yielded once.
        """
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.list(status=status, model_type=model_type, limit=page_size, offset=offset, sort=sort,
                             order=order)  # fmt: skip
            for job in page.jobs:
                if job.id not in seen:
                    seen.add(job.id)
                    yield job
            if not page.pagination.has_more or not page.jobs:
                return
            offset += len(page.jobs)

    def get(self, job_id: str) -> TrainingJob:
        return self._t.send(calls.get_job(job_id))

    def stop(self, job_id: str, *, save_checkpoint: bool = True, reason: str | None = None) -> TrainingJob:
        return self._t.send(calls.stop_job(job_id, save_checkpoint=save_checkpoint, reason=reason))

    def resume(self, job_id: str, *, checkpoint_id: str | None = None) -> TrainingJob:
        return self._t.send(calls.resume_job(job_id, checkpoint_id=checkpoint_id))

    def delete(self, job_id: str, *, purge_checkpoints: bool = False) -> None:
        self._t.send(calls.delete_job(job_id, purge_checkpoints=purge_checkpoints))

    def logs(
        self, job_id: str, *, worker: int = 0, tail: int | None = None, attempt: int | None = None
    ) -> str:
        """A worker's log; of a finished job, every attempt's (each under a ``==> attempt N <==`` line when there
        were several) unless ``attempt`` picks one."""
        return self._t.send(calls.job_logs(job_id, worker=worker, tail=tail, attempt=attempt))

    def follow_logs(self, job_id: str, *, worker: int = 0, tail: int | None = None) -> Iterator[str]:
        """The worker's log as it is written (until the worker ends)."""
        yield from self._t.stream(calls.logs_path(job_id), calls.logs_params(worker, tail, follow=True))

    def checkpoints(self, job_id: str) -> builtins.list[Checkpoint]:
        return self._t.send(calls.job_checkpoints(job_id))

    def download_artifact(
        self, job_id: str, name: str, *, to: str | os.PathLike[str] | None = None, extract: bool = True
    ) -> Path:
        """Save an artifact of a finished job (``job.artifacts``: ``adapter``, ``merged``, ``best``…).

        A file artifact is saved as ``to`` (or inside ``to`` when it is a folder; default: the current folder);
        a folder artifact is unpacked into ``to`` (default ``./<name>``), or saved as its tar with
        ``extract=False``. Returns where it went.
        """
        part, headers = self._t.download(calls.artifact_path(job_id, name), download.staging_folder(to))
        return download.finish(part, headers.get("content-type", ""), headers.get("content-disposition"), name,
                               to, extract)  # fmt: skip

    def metrics(self, job_id: str) -> builtins.list[MetricPoint]:
        return self._t.send(calls.job_metrics(job_id))

    def events(self, job_id: str) -> builtins.list[Event]:
        return self._t.send(calls.job_events(job_id))

    def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[TrainingJob], object] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        until: Collection[str] | None = None,
    ) -> TrainingJob:
        """Poll the job until its status is one of ``until`` (default: finished) and return it.

        Args:
            job_id: the job.
            on_progress: called with the job at the first poll and whenever its status, progress or metrics
                changed since the previous poll (the final job included).
            poll_interval: seconds between polls.
            timeout: seconds; ``TimeoutError`` after that (the job keeps running).
            until: the statuses that end the wait.
        """
        waiting = JobWait(job_id, until, timeout)
        while True:
            job = self.get(job_id)
            if on_progress is not None and waiting.changed(job):
                on_progress(job)
            if waiting.reached(job):
                return job
            waiting.check_deadline(job)
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
        return self._t.send(calls.create_dataset(name, format, source, description))

    register = create

    def list(self, *, limit: int | None = None, offset: int | None = None) -> DatasetList:
        return self._t.send(calls.list_datasets(limit=limit, offset=offset))

    def list_all(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Dataset]:
        """Every dataset of the account, fetching pages of ``page_size`` as the loop goes."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.list(limit=page_size, offset=offset)
            for dataset in page.datasets:
                if dataset.id not in seen:
                    seen.add(dataset.id)
                    yield dataset
            if not page.pagination.has_more or not page.datasets:
                return
            offset += len(page.datasets)

    def get(self, dataset_id: str) -> Dataset:
        return self._t.send(calls.get_dataset(dataset_id))

    def delete(self, dataset_id: str) -> None:
        self._t.send(calls.delete_dataset(dataset_id))


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
        key, url = resolve_settings(api_key, base_url)
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
