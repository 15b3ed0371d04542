"""Coalesced status writes: at most one write in flight per job, and at most one per ``min_interval`` seconds; a
report arriving meanwhile replaces the one waiting (the newest wins), so a job costs at most one PATCH per interval
however often it reports (1,000 jobs reporting every 2 s with a 5 s interval: 200 PATCHes/s, not 500). A report
is serialised only when it is written: one replaced before then costs nothing more.

An urgent report (new checkpoints, or the trainer's last) is written without waiting out the interval — though
never sooner than ``urgent_gap`` after the job's previous write, so no worker can drive the write rate — and its
submitter can await the write: the trainer then exits only once the status holds its checkpoints.

Only the trainer's fields are written (:func:`status_patch_body`, a JSON patch), with no resourceVersion: they are
nobody else's, and the operator's own guarded writes of its fields are untouched (they retry on the new version).
History points arrive as deltas: those of coalesced reports add up and are appended in one write, or set whole
after a reset; a failed write keeps them for the next one.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tensorone.api.reporting import REPORT_STATUS_FIELDS, ReportedPoint, TrainerReport
from tensorone.controller.kube import KubeClient, object_path
from tensorone.controller.reporting.directory import JobKey

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    coalesced: int = 0
    failed: int = 0


class HistoryWrite(enum.Enum):
    REPLACE = "replace"
    """The report's history is the whole history."""
    APPEND = "append"
    """The report's history holds only new points, to go after the status's."""


@dataclass
class _Waiting:
    report: TrainerReport
    urgent: bool
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)
    replace: list[ReportedPoint] | None = None
    append: list[ReportedPoint] = field(default_factory=list)

    def take(self, report: TrainerReport, history: HistoryWrite | None) -> None:
        """``report`` is the newest (its fields win); history points add up until they are written."""
        self.report = report
        if history is HistoryWrite.REPLACE:
            self.replace, self.append = list(report.history or []), []
        elif history is HistoryWrite.APPEND:
            self.append.extend(report.history or [])

    def carry(self, older: _Waiting) -> None:
        """Keep the history of ``older``, whose write failed, before this one's."""
        if self.replace is None:
            self.replace = None if older.replace is None else [*older.replace, *older.append]
            self.append = (older.append if older.replace is None else []) + self.append


def status_patch_body(waiting: _Waiting) -> bytes:
    """The JSON patch of the status subresource: the trainer's fields the worker sent, with the display fields
    (``percentDisplay``, ``lossDisplay``) computed here from them for kubectl's columns; the history set whole, or
    only its new points appended (the status's history is not sent back and forth)."""
    fields = waiting.report.model_dump(
        mode="json",
        include=set(REPORT_STATUS_FIELDS - {"history"}),
        by_alias=True,
        exclude_unset=True,
        exclude_none=True,
    )
    ops: list[dict[str, Any]] = [{"op": "add", "path": f"/status/{k}", "value": v} for k, v in fields.items()]
    if waiting.replace is not None:
        points = [*waiting.replace, *waiting.append]
        ops.append({"op": "add", "path": "/status/history", "value": _points(points)})
    else:
        ops += [{"op": "add", "path": "/status/history/-", "value": p} for p in _points(waiting.append)]
    return json.dumps(ops).encode()


def _points(points: list[ReportedPoint]) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in points]


class StatusWriter:
    def __init__(self, client: KubeClient, min_interval: float = 0.0, urgent_gap: float = 0.5) -> None:
        self.client = client
        self.min_interval = min_interval
        self.urgent_gap = min(urgent_gap, min_interval)
        self.stats = WriterStats()
        self._waiting: dict[JobKey, _Waiting] = {}
        self._writing: dict[JobKey, asyncio.Task[None]] = {}
        self._hurry: dict[JobKey, asyncio.Event] = {}
        self.needs_reset: set[JobKey] = set()
        """Jobs whose status history could not take new points: their next delta report is answered 409."""

    def submit(
        self,
        key: JobKey,
        report: TrainerReport,
        *,
        urgent: bool = False,
        history: HistoryWrite | None = None,
    ) -> asyncio.Future[bool]:
        """Queue ``report``; the future resolves True once it (or a newer report) is written, False if that failed.
        Its history is the whole one or new points (``history``; the whole one if it has one and that is None)."""
        self.stats.received += 1
        if history is None and report.history is not None:
            history = HistoryWrite.REPLACE
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        previous = self._waiting.get(key)
        if previous is not None:
            self.stats.coalesced += 1
            previous.take(report, history)
            previous.urgent = previous.urgent or urgent
            previous.waiters.append(done)
        else:
            waiting = _Waiting(report, urgent, [done])
            waiting.take(report, history)
            self._waiting[key] = waiting
        if urgent and key in self._hurry:
            self._hurry[key].set()
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._drain(key), name=f"report-{key[0]}/{key[1]}")
        return done

    async def _write(self, key: JobKey, waiting: _Waiting) -> None:
        path = object_path("TrainingJob", key[0], key[1], "status")
        headers = {"Content-Type": "application/json-patch+json"}
        self.client.requests["PATCH"] += 1
        async with self.client.session.patch(
            path, data=status_patch_body(waiting), headers=headers
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
                    await self._write(key, waiting)
                    self.stats.written += 1
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    # The fields are whole snapshots: the next report carries them again; an awaited one is retried
                    # by its sender (it gets 503). History points were taken once, so they wait for the next write,
                    # unless the API server refused them for good (the trainer is then asked for the whole history).
                    ok = False
                    self.stats.failed += 1
                    log.warning("writing the report of %s/%s failed: %s", key[0], key[1], e)
                    self._keep_history(key, waiting, e)
                for done in waiting.waiters:
                    if not done.done():
                        done.set_result(ok)
                await self._pause(key, started)  # reports arriving meanwhile coalesce into the next write
        finally:
            self._writing.pop(key, None)
            self._hurry.pop(key, None)

    def _keep_history(self, key: JobKey, failed: _Waiting, error: Exception) -> None:
        if failed.replace is None and not failed.append:
            return
        status = error.status if isinstance(error, aiohttp.ClientResponseError) else None
        if status is not None and 400 <= status < 500 and status not in (409, 429):
            self.needs_reset.add(key)  # e.g. no history to append to: the next delta gets 409
            return
        newer = self._waiting.get(key)
        if newer is None:
            self._waiting[key] = _Waiting(failed.report, False, [], failed.replace, failed.append)
        else:
            newer.carry(failed)

    async def close(self) -> None:
        tasks = list(self._writing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
