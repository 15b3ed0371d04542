"""Coalesced status writes: at most one write in flight per job, and at most one per ``min_interval`` seconds; a
report arriving meanwhile replaces the one waiting (the newest wins), so a job costs at most one PATCH per interval
however often it reports (1,000 jobs reporting every 2 s with a 5 s interval: 200 PATCHes/s, not 500). A report
is serialised only when it is written: one replaced before then costs nothing more.

Only the trainer's fields are written (a :class:`TrainerReport` has no others), with no resourceVersion: they are
nobody else's, and the operator's own guarded writes of its fields are untouched (they retry on the new version).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp

from tensorone.api.reporting import TrainerReport
from tensorone.controller.kube import KubeClient, object_path
from tensorone.controller.reporting.directory import JobKey

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    coalesced: int = 0
    failed: int = 0


def status_patch_body(report: TrainerReport) -> bytes:
    """The merge patch of the status subresource: what the worker sent, no display fields (the server adds them)."""
    fields = report.model_dump_json(
        by_alias=True, exclude_unset=True, exclude_none=True, exclude_computed_fields=True
    )
    return b'{"status":' + fields.encode() + b"}"


class StatusWriter:
    def __init__(self, client: KubeClient, min_interval: float = 0.0) -> None:
        self.client = client
        self.min_interval = min_interval
        self.stats = WriterStats()
        self._waiting: dict[JobKey, TrainerReport] = {}
        self._writing: dict[JobKey, asyncio.Task[None]] = {}

    def submit(self, key: JobKey, report: TrainerReport) -> None:
        self.stats.received += 1
        if key in self._waiting:
            self.stats.coalesced += 1
        self._waiting[key] = report
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._drain(key), name=f"report-{key[0]}/{key[1]}")

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

    async def _drain(self, key: JobKey) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (report := self._waiting.pop(key, None)) is not None:
                started = loop.time()
                try:
                    await self._write(key, report)
                    self.stats.written += 1
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    # The next report carries everything again (reports are whole snapshots): nothing to retry.
                    self.stats.failed += 1
                    log.warning("writing the report of %s/%s failed: %s", key[0], key[1], e)
                rest = started + self.min_interval - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)  # reports arriving meanwhile coalesce into the next write
        finally:
            self._writing.pop(key, None)

    async def close(self) -> None:
        tasks = list(self._writing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
