"""Coalesced status writes: at most one write in flight per job, and at most one per ``min_interval`` seconds; a
report arriving meanwhile replaces the one waiting (the newest wins), so a job costs at most one PATCH per interval
however often it reports (1,000 jobs reporting every 2 s with a 5 s interval: 200 PATCHes/s, not 500). A report
is serialised only when it is written: one replaced before then costs nothing more.

An urgent report (new checkpoints, or the trainer's last) is written without waiting out the interval — though
never sooner than ``urgent_gap`` after the job's previous write, so no worker can drive the write rate — and its
submitter can await the write: the trainer then exits only once the status holds its checkpoints.

Only the trainer's fields are written (:func:`status_patch_body`), with no resourceVersion: they are nobody else's,
and the operator's own guarded writes of its fields are untouched (they retry on the new version).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp

from tensorone.api.reporting import REPORT_STATUS_FIELDS, TrainerReport
from tensorone.controller.kube import KubeClient, object_path
from tensorone.controller.reporting.directory import JobKey

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    coalesced: int = 0
    failed: int = 0


@dataclass
class _Waiting:
    report: TrainerReport
    urgent: bool
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)


def status_patch_body(report: TrainerReport) -> bytes:
    """The merge patch of the status subresource: the trainer's fields the worker sent, with the display fields
    (``percentDisplay``, ``lossDisplay``) computed here from them for kubectl's columns."""
    fields = report.model_dump_json(
        include=set(REPORT_STATUS_FIELDS), by_alias=True, exclude_unset=True, exclude_none=True
    )
    return b'{"status":' + fields.encode() + b"}"


class StatusWriter:
    def __init__(self, client: KubeClient, min_interval: float = 0.0, urgent_gap: float = 0.5) -> None:
        self.client = client
        self.min_interval = min_interval
        self.urgent_gap = min(urgent_gap, min_interval)
        self.stats = WriterStats()
        self._waiting: dict[JobKey, _Waiting] = {}
        self._writing: dict[JobKey, asyncio.Task[None]] = {}
        self._hurry: dict[JobKey, asyncio.Event] = {}

    def submit(self, key: JobKey, report: TrainerReport, *, urgent: bool = False) -> asyncio.Future[bool]:
        """Queue ``report``; the future resolves True once it (or a newer report) is written, False if that failed."""
        self.stats.received += 1
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        previous = self._waiting.get(key)
        if previous is not None:
            self.stats.coalesced += 1
            previous.report = report
            previous.urgent = previous.urgent or urgent
            previous.waiters.append(done)
        else:
            self._waiting[key] = _Waiting(report, urgent, [done])
        if urgent and key in self._hurry:
            self._hurry[key].set()
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._drain(key), name=f"report-{key[0]}/{key[1]}")
        return done

    async def _write(self, key: JobKey, report: TrainerReport) -> None:
        path = object_path("TrainingJob", key[0], key[1], "status")
        headers = {"Content-Type": "application/merge-patch+json"}
        self.client.requests["PATCH"] += 1
        async with self.client.session.patch(
            path, data=status_patch_body(report), headers=headers
        ) as response:
            await response.read()
            if response.status >= 300:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message="status patch refused"
                )

    async def _pause(self, key: JobKey, started: float) -> None:
        """Wait out the interval since ``started``; an urgent report cuts it short after ``urgent_gap``."""
        loop = asyncio.get_running_loop()
        hurry = self._hurry.setdefault(key, asyncio.Event())
        hurry.clear()
        waiting = self._waiting.get(key)
        if waiting is None or not waiting.urgent:
            rest = started + self.min_interval - loop.time()
            if rest > 0:
                try:
                    await asyncio.wait_for(hurry.wait(), rest)
                except TimeoutError:
                    return
        gap = started + self.urgent_gap - loop.time()
        if gap > 0:
            await asyncio.sleep(gap)

    async def _drain(self, key: JobKey) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (waiting := self._waiting.pop(key, None)) is not None:
                started = loop.time()
                ok = True
                try:
                    await self._write(key, waiting.report)
                    self.stats.written += 1
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    # Reports are whole snapshots: the next one carries everything again; an awaited one is retried
                    # by its sender (it gets 503).
                    ok = False
                    self.stats.failed += 1
                    log.warning("writing the report of %s/%s failed: %s", key[0], key[1], e)
                for done in waiting.waiters:
                    if not done.done():
                        done.set_result(ok)
                await self._pause(key, started)  # reports arriving meanwhile coalesce into the next write
        finally:
            self._writing.pop(key, None)
            self._hurry.pop(key, None)

    async def close(self) -> None:
        tasks = list(self._writing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
