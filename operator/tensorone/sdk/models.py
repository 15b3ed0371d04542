"""Typed responses with snake_case attributes (``job.progress.percentage``, ``job.metrics.current_loss``).

The shapes are the facade's own response models (``tensorone.api.rest``), so the SDK and the server cannot
drift apart. The SDK parses leniently (``parse``): fields a newer server adds are kept as extra attributes,
never an error; the server itself stays strict about what it sends.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from tensorone.api import rest
from tensorone.api.status import FINISHED_PHASES

FINISHED = frozenset(str(phase) for phase in FINISHED_PHASES)

Progress = rest.ProgressOut
Metrics = rest.MetricsOut
ResourceAllocation = rest.ResourceAllocationOut
ResourceUsage = rest.ResourceUsageOut
EstimatedCost = rest.EstimatedCostOut
Checkpoint = rest.CheckpointOut
Artifact = rest.ArtifactOut
JobError = rest.JobErrorOut
Optimizations = rest.OptimizationsOut
JobSummary = rest.JobSummary
CompactCost = rest.CompactCost
Pagination = rest.Pagination
MetricPoint = rest.MetricPointOut
Event = rest.EventOut
Dataset = rest.DatasetObject

__all__ = [
    "FINISHED",
    "Artifact",
    "Checkpoint",
    "CompactCost",
    "CreatedJob",
    "Dataset",
    "DatasetList",
    "EstimatedCost",
    "Event",
    "JobError",
    "JobList",
    "JobSummary",
    "MetricPoint",
    "Metrics",
    "Optimizations",
    "Pagination",
    "Progress",
    "ResourceAllocation",
    "ResourceUsage",
    "TrainingJob",
    "parse",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], data: Any) -> ModelT:
    """``data`` (a decoded JSON answer) as ``model``, keeping fields this SDK does not know yet."""
    return model.model_validate(data, extra="allow")


class TrainingJob(rest.JobObject):
    """The full job object (``get``, ``create``, ``stop``, ``resume``, ``wait``)."""

    @property
    def finished(self) -> bool:
        """Whether the job has reached a status it leaves only when resumed."""
        return self.status in FINISHED


class CreatedJob(rest.CompactCreateResponse):
    """The answer to a compact (shape B) create."""

    @property
    def id(self) -> str:
        return self.job_id


class JobList(rest.JobListResponse):
    """One page of ``jobs.list`` (the short form of each job); iterating yields the jobs."""

    def __iter__(self) -> Any:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


class DatasetList(rest.DatasetListResponse):
    """One page of ``datasets.list``; iterating yields the datasets."""

    def __iter__(self) -> Any:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)
