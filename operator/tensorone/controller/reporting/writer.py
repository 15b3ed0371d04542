"""Coalesced status writes: at most one write in flight per job; a report arriving meanwhile replaces the one
waiting (the newest wins), so a job costs at most one PATCH per API round trip however often it reports.

Only the trainer's fields are written (``TRAINER_STATUS_FIELDS``), with no resourceVersion: they are nobody
else's, and the operator's own guarded writes of its fields are untouched (they retry on the new version).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from tensorone.api.status import TRAINER_STATUS_FIELDS
from tensorone.controller.kube import ApiStatusError, KubeClient
from tensorone.controller.reporting.directory import JobKey

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    coalesced: int = 0
    failed: int = 0


class StatusWriter:
    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.stats = WriterStats()
        self._waiting: dict[JobKey, dict[str, Any]] = {}
        self._writing: dict[JobKey, asyncio.Task[None]] = {}

    def submit(self, key: JobKey, fields: dict[str, Any]) -> None:
        assert set(fields) <= TRAINER_STATUS_FIELDS, "only the trainer's fields are written from reports"
        self.stats.received += 1
        if key in self._waiting:
            self.stats.coalesced += 1
        self._waiting[key] = fields
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._drain(key), name=f"report-{key[0]}/{key[1]}")

    async def _drain(self, key: JobKey) -> None:
        try:
            while (fields := self._waiting.pop(key, None)) is not None:
                try:
                    await self.client.patch_status("TrainingJob", key[0], key[1], fields, None)
                    self.stats.written += 1
                except (TimeoutError, ApiStatusError, OSError) as e:
                    # The next report carries everything again (reports are whole snapshots): nothing to retry.
                    self.stats.failed += 1
                    log.warning("writing the report of %s/%s failed: %s", key[0], key[1], type(e).__name__)
        finally:
            self._writing.pop(key, None)

    async def close(self) -> None:
        tasks = list(self._writing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
