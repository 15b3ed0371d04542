"""What the facade derives from a parsed job (the status a user sees, the moments lists sort by), computed once
per resourceVersion so that List, quota and filters read attributes instead of recomputing them per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tensorone.api.resources import TrainingJobResource
from tensorone.api.status import RESUMABLE_PHASES, JobPhase

ACTIVE_PHASES = frozenset({JobPhase.QUEUED, JobPhase.PENDING, JobPhase.RUNNING})
_NEVER = datetime.min.replace(tzinfo=UTC)


def effective_status(job: TrainingJobResource) -> str:
    """The status a user sees: the operator's phase, or the one a facade write has just asked for.

    A job not admitted yet (phase ``queued``, kept for kubectl) reads ``pending``, as API.md says: clients poll
    ``while status in ("pending", "running")`` straight after create or resume.
    """
    phase = job.status.phase or JobPhase.QUEUED
    if job.spec.suspend and phase in ACTIVE_PHASES:
        return str(JobPhase.STOPPING)
    generation, observed = job.metadata.generation, job.status.observed_generation
    spec_unseen = generation is not None and (observed is None or generation > observed)
    if not job.spec.suspend and job.spec.resume_from and phase in RESUMABLE_PHASES and spec_unseen:
        return str(JobPhase.PENDING)
    return str(JobPhase.PENDING if phase == JobPhase.QUEUED else phase)


def updated_at(job: TrainingJobResource) -> datetime:
    status = job.status
    moments = [
        job.metadata.creation_timestamp,
        status.started_at,
        status.completed_at,
        status.last_report_time,
    ]
    moments.extend(c.last_transition_time for c in status.conditions)
    return max((m for m in moments if m is not None), default=_NEVER)


def created_at(job: TrainingJobResource) -> datetime:
    return job.metadata.creation_timestamp or _NEVER


@dataclass
class JobView:
    """A parsed job with what List filters and sorts it by, and its list item once rendered (``summary``)."""

    job: TrainingJobResource
    name: str
    status: str
    model_type: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    gpus: int
    summary: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, job: TrainingJobResource) -> JobView:
        return cls(
            job=job,
            name=job.metadata.name,
            status=effective_status(job),
            model_type=str(job.spec.model_type),
            display_name=job.spec.display_name,
            created_at=created_at(job),
            updated_at=updated_at(job),
            gpus=job.spec.gpus_per_worker * job.spec.max_workers,
        )
