"""Which job a reporting pod belongs to, from what the operator already watches (no API call per report).

The job daemons register each job's live body and the worker-pod index; a report is taken only from a pod the
index shows as a worker of the job's current attempt while the job is unfinished.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tensorone.api import names
from tensorone.api.status import FINISHED_PHASES, JobPhase
from tensorone.controller.pods import PodView
from tensorone.controller.reporting.tokens import PodIdentity

JobKey = tuple[str, str]
PodIndex = Mapping[JobKey, Collection[PodView]]
_WORKER_SUFFIX = re.compile(r"^(?P<job>.+)-worker-(?P<index>0|[1-9][0-9]{0,5})$")


@dataclass(frozen=True)
class ReportTarget:
    """The job a report may write to, and the attempt it comes from."""

    namespace: str
    name: str
    uid: str
    attempt: int


class NotAWorkerError(Exception):
    """The pod is no current worker of an unfinished job (the message says which check failed; no user data)."""


class JobDirectory:
    def __init__(self) -> None:
        self._jobs: dict[JobKey, Mapping[str, Any]] = {}
        self._pods: PodIndex = {}

    def track(self, key: JobKey, body: Mapping[str, Any], pods: PodIndex) -> None:
        """Called by a job's daemon: ``body`` is kopf's live view, kept current by the watch."""
        self._jobs[key] = body
        self._pods = pods

    def forget(self, key: JobKey) -> None:
        self._jobs.pop(key, None)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, key: object) -> bool:
        return key in self._jobs

    def resolve(self, identity: PodIdentity) -> ReportTarget:
        match = _WORKER_SUFFIX.match(identity.pod)
        if match is None:
            raise NotAWorkerError("the token's pod is not a worker pod")
        job, index = match["job"], int(match["index"])
        if names.worker_pod_name(job, index) != identity.pod:
            raise NotAWorkerError("the token's pod is not a worker pod")
        key = (identity.namespace, job)
        body = self._jobs.get(key)
        if body is None:
            raise NotAWorkerError("the token's pod belongs to no job this operator runs")
        status = body.get("status") or {}
        phase = status.get("phase")
        if phase is None or JobPhase(phase) in FINISHED_PHASES or phase == JobPhase.QUEUED:
            raise NotAWorkerError("the job is not running")
        attempt = int(status.get("attempts") or 0)
        worker = next((p for p in self._pods.get(key, ()) if p.name == identity.pod), None)
        if worker is None or worker.attempt != attempt:
            raise NotAWorkerError("the token's pod is not a worker of the job's current attempt")
        uid = str((body.get("metadata") or {}).get("uid") or "")
        return ReportTarget(namespace=identity.namespace, name=job, uid=uid, attempt=attempt)


jobs = JobDirectory()
"""The operator process's one directory (the job daemons fill it)."""
