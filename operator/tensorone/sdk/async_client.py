"""``AsyncTensorOneClient``: the same surface as ``TensorOneClient`` for asyncio code.

Every method is a coroutine (``await client.training.jobs.get(id)``); ``list_all``, ``follow_logs`` and
``watch`` are async iterators (``async for``). Requests, retries and waiting follow the same rules as the
synchronous client (``tensorone.sdk.calls`` and ``tensorone.sdk.policy``).
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tensorone.sdk import calls, download
from tensorone.sdk.client import DEFAULT_PAGE_SIZE, USER_AGENT, error_of, resolve_settings
from tensorone.sdk.errors import APIConnectionError
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

T = TypeVar("T")


class _AsyncTransport:
    def __init__(self, api_key: str, base_url: str, timeout: float, max_retries: int):
        self.max_retries = max_retries
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=timeout,
        )

    async def send(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    call.method, call.path, json=call.json, params=call.query()
                )
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
            await asyncio.sleep(delay)
            attempt += 1

    async def stream(self, path: str, params: dict[str, Any]) -> AsyncIterator[str]:
        query = {k: v for k, v in params.items() if v is not None}
        async with self.http.stream("GET", path, params=query, timeout=None) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_of(response)
            async for text in response.aiter_text():
                yield text

    async def download(self, path: str, folder: Path) -> tuple[Path, httpx.Headers]:
        """The body of a GET, streamed into a new file in ``folder``; that file and the answer's headers."""
        async with self.http.stream("GET", path, timeout=None) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_of(response)
            handle, name = tempfile.mkstemp(prefix=".tensorone-download-", dir=folder)
            try:
                with os.fdopen(handle, "wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
            except BaseException:
                os.unlink(name)
                raise
            return Path(name), response.headers


class AsyncJobs:
    """``client.training.jobs`` of the async client."""

    def __init__(self, transport: _AsyncTransport):
        self._t = transport

    async def create(
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
        """Create a job from keyword arguments (shape A), or send ``body`` as given (either shape)."""
        if body is None:
            body = calls.job_body(
                name=name, model_type=model_type, dataset_id=dataset_id, config=config, description=description,
                tags=tags, gpu_type=gpu_type, max_workers=max_workers, priority=priority,
            )  # fmt: skip
        return await self._t.send(calls.create_job(body))

    async def list(
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
        return await self._t.send(calls.list_jobs(status=status, model_type=model_type, limit=limit,
                                                  offset=offset, sort=sort, order=order))  # fmt: skip

    async def list_all(
        self,
        *,
        status: str | None = None,
        model_type: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[JobSummary]:
        """Every job matching the filters (``async for``), each yielded once, pages fetched as needed."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = await self.list(status=status, model_type=model_type, limit=page_size, offset=offset,
                                   sort=sort, order=order)  # fmt: skip
            for job in page.jobs:
                if job.id not in seen:
                    seen.add(job.id)
                    yield job
            if not page.pagination.has_more or not page.jobs:
                return
            offset += len(page.jobs)

    async def get(self, job_id: str) -> TrainingJob:
        return await self._t.send(calls.get_job(job_id))

    async def stop(
        self, job_id: str, *, save_checkpoint: bool = True, reason: str | None = None
    ) -> TrainingJob:
        return await self._t.send(calls.stop_job(job_id, save_checkpoint=save_checkpoint, reason=reason))

    async def resume(self, job_id: str, *, checkpoint_id: str | None = None) -> TrainingJob:
        return await self._t.send(calls.resume_job(job_id, checkpoint_id=checkpoint_id))

    async def delete(self, job_id: str, *, purge_checkpoints: bool = False) -> None:
        await self._t.send(calls.delete_job(job_id, purge_checkpoints=purge_checkpoints))

    async def logs(
        self, job_id: str, *, worker: int = 0, tail: int | None = None, attempt: int | None = None
    ) -> str:
        """A worker's log; of a finished job, every attempt's unless ``attempt`` picks one."""
        return await self._t.send(calls.job_logs(job_id, worker=worker, tail=tail, attempt=attempt))

    async def follow_logs(
        self, job_id: str, *, worker: int = 0, tail: int | None = None
    ) -> AsyncIterator[str]:
        """The worker's log as it is written (until the worker ends)."""
        async for text in self._t.stream(
            calls.logs_path(job_id), calls.logs_params(worker, tail, follow=True)
        ):
            yield text

    async def checkpoints(self, job_id: str) -> builtins.list[Checkpoint]:
        return await self._t.send(calls.job_checkpoints(job_id))

    async def download_artifact(
        self, job_id: str, name: str, *, to: str | os.PathLike[str] | None = None, extract: bool = True
    ) -> Path:
        """As ``TensorOneClient.training.jobs.download_artifact``."""
        part, headers = await self._t.download(calls.artifact_path(job_id, name), download.staging_folder(to))
        return await asyncio.to_thread(
            download.finish, part, headers.get("content-type", ""), headers.get("content-disposition"), name, to,
            extract,
        )  # fmt: skip

    async def metrics(self, job_id: str) -> builtins.list[MetricPoint]:
        return await self._t.send(calls.job_metrics(job_id))

    async def events(self, job_id: str) -> builtins.list[Event]:
        return await self._t.send(calls.job_events(job_id))

    async def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[TrainingJob], object] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        until: Collection[str] | None = None,
    ) -> TrainingJob:
        """Poll the job until its status is one of ``until`` (default: finished) and return it.

        ``on_progress`` (a function or a coroutine function) is called with the job at the first poll and
        whenever its status, progress or metrics changed; ``TimeoutError`` after ``timeout`` seconds.
        """
        waiting = JobWait(job_id, until, timeout)
        while True:
            job = await self.get(job_id)
            if on_progress is not None and waiting.changed(job):
                result = on_progress(job)
                if inspect.isawaitable(result):
                    await result
            if waiting.reached(job):
                return job
            waiting.check_deadline(job)
            await asyncio.sleep(poll_interval)

    async def watch(self, job_id: str, *, poll_interval: float = 2.0) -> AsyncIterator[TrainingJob]:
        """The job every ``poll_interval`` seconds, until it is finished (the last one yielded is)."""
        while True:
            job = await self.get(job_id)
            yield job
            if job.finished:
                return
            await asyncio.sleep(poll_interval)


class AsyncTraining:
    def __init__(self, transport: _AsyncTransport):
        self.jobs = AsyncJobs(transport)


class AsyncDatasets:
    """``client.datasets`` of the async client."""

    def __init__(self, transport: _AsyncTransport):
        self._t = transport

    async def create(self, name: str, format: str, source: str, *, description: str | None = None) -> Dataset:
        return await self._t.send(calls.create_dataset(name, format, source, description))

    register = create

    async def list(self, *, limit: int | None = None, offset: int | None = None) -> DatasetList:
        return await self._t.send(calls.list_datasets(limit=limit, offset=offset))

    async def list_all(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Dataset]:
        """Every dataset of the account (``async for``), pages fetched as needed."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = await self.list(limit=page_size, offset=offset)
            for dataset in page.datasets:
                if dataset.id not in seen:
                    seen.add(dataset.id)
                    yield dataset
            if not page.pagination.has_more or not page.datasets:
                return
            offset += len(page.datasets)

    async def get(self, dataset_id: str) -> Dataset:
        return await self._t.send(calls.get_dataset(dataset_id))

    async def delete(self, dataset_id: str) -> None:
        await self._t.send(calls.delete_dataset(dataset_id))


class AsyncTensorOneClient:
    """The v2 API for asyncio: ``client.training.jobs`` and ``client.datasets``, every call awaited.

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
        self._transport = _AsyncTransport(key, url, timeout, max_retries)
        self.base_url = url
        self.training = AsyncTraining(self._transport)
        self.datasets = AsyncDatasets(self._transport)

    async def close(self) -> None:
        await self._transport.http.aclose()

    async def __aenter__(self) -> AsyncTensorOneClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
