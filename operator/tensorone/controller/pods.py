"""A typed view of a worker pod, read once at the edge, so the status logic never touches raw pod dicts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from tensorone.api import names
from tensorone.api.trainer_config import NON_RETRYABLE_EXIT_CODES
from tensorone.catalog.gpus import GPU_RESOURCE

# Pod or container reasons meaning the infrastructure, not the job, ended the worker.
INFRASTRUCTURE_REASONS = frozenset(
    {
        "OOMKilled",
        "Evicted",
        "Preempted",
        "Preempting",
        "NodeLost",
        "Shutdown",
        "Terminated",
        "DeadlineExceeded",
        "UnexpectedAdmissionError",
    }
)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class PodView:
    """What the operator needs to know about one worker pod."""

    name: str
    index: int
    attempt: int
    phase: str
    deleting: bool = False
    gpus: int = 0
    running_since: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str = ""
    unschedulable: str | None = None
    unschedulable_since: datetime | None = None
    finalizers: tuple[str, ...] = ()
    component: str = names.WORKER_COMPONENT
    resource_version: str | None = None
    deletion_deadline: datetime | None = None

    @cached_property
    def as_decided_on(self) -> PodView:
        """The pod as far as a pass's decision goes: its resourceVersion only guards a write to a held pod being
        deleted (its release); any other pod's version changes with fields no pass reads (its node, managed fields).
        Cached: the daemon compares its pods with the last pass's on every wakeup."""
        return self if self.held and self.deleting else replace(self, resource_version=None)

    @property
    def held(self) -> bool:
        """The operator's finalizer keeps the pod (and its log) until the log is archived."""
        return names.LOG_ARCHIVE_FINALIZER in self.finalizers

    @property
    def terminated(self) -> bool:
        """The worker's process is gone (its GPUs are free)."""
        return self.phase in ("Succeeded", "Failed") or self.exit_code is not None

    @property
    def running(self) -> bool:
        return self.phase == "Running" and not self.terminated

    @property
    def failed(self) -> bool:
        return self.phase == "Failed" or self.phase == "Unknown" or (self.exit_code or 0) != 0

    @property
    def retryable(self) -> bool:
        """A failure another attempt may fix: a crash, a signal (exit ≥ 128), OOM, eviction, node loss."""
        return self.failed and self.exit_code not in NON_RETRYABLE_EXIT_CODES


def parse_pod(obj: dict[str, Any]) -> PodView:
    """Read a pod as the API returns it (or as kopf hands it over)."""
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    gpus = 0
    for container in spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        gpus += int(str(limits.get(GPU_RESOURCE, 0)))
    running_since = finished_at = None
    exit_code: int | None = None
    reason = status.get("reason")
    message = status.get("message") or ""
    for container in status.get("containerStatuses") or []:
        if container.get("name") == names.REPORT_RELAY_CONTAINER:
            continue  # the worker is its trainer: the relay only outlives it until it notices
        state = container.get("state") or {}
        if "running" in state:
            running_since = _time(state["running"].get("startedAt"))
        if "terminated" in state:
            term = state["terminated"]
            running_since = _time(term.get("startedAt")) or running_since
            finished_at = _time(term.get("finishedAt"))
            exit_code = int(term.get("exitCode", 0))
            reason = term.get("reason") if term.get("reason") not in (None, "Error", "Completed") else reason
            message = term.get("message") or message
    unschedulable = unschedulable_since = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            unschedulable = condition.get("message") or condition.get("reason") or "Unschedulable"
            unschedulable_since = _time(condition.get("lastTransitionTime"))
    return PodView(
        name=str(metadata.get("name", "")),
        index=int(labels.get(names.WORKER_INDEX_LABEL, "0")),
        attempt=int(labels.get(names.ATTEMPT_LABEL, "0")),
        phase=str(status.get("phase") or "Pending"),
        deleting=bool(metadata.get("deletionTimestamp")),
        gpus=gpus,
        running_since=running_since,
        finished_at=finished_at,
        exit_code=exit_code,
        reason=reason,
        message=str(message).strip(),
        unschedulable=unschedulable,
        unschedulable_since=unschedulable_since,
        finalizers=tuple(str(f) for f in metadata.get("finalizers") or ()),
        component=str(labels.get(names.COMPONENT_LABEL, names.WORKER_COMPONENT)),
        resource_version=metadata.get("resourceVersion"),
        deletion_deadline=_time(metadata.get("deletionTimestamp")),
    )
