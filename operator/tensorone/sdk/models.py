"""Typed responses with snake_case attributes (``job.progress.percentage``, ``job.metrics.current_loss``).

Lenient on purpose: fields a newer server adds are kept (as extra attributes), never an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

FINISHED = frozenset({"completed", "failed", "cancelled", "stopped"})


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Progress(ApiModel):
    current_epoch: int = 0
    total_epochs: int = 0
    current_step: int = 0
    total_steps: int = 0
    percentage: float = 0.0
    elapsed_time: float = 0.0
    remaining_time: float | None = None


class Metrics(ApiModel):
    current_loss: float | None = None
    best_loss: float | None = None
    learning_rate: float | None = None
    throughput: str | None = None
    memory_usage: str | None = None


class ResourceAllocation(ApiModel):
    gpu_type: str
    workers: int
    memory_per_worker: str | None = None


class ResourceUsage(ApiModel):
    gpu_hours: float = 0.0
    cost: float = 0.0
    efficiency: float | None = None


class EstimatedCost(ApiModel):
    hourly: float
    total: float


class Checkpoint(ApiModel):
    id: str
    epoch: int
    step: int
    loss: float | None = None
    created_at: datetime
    size: str


class Artifact(ApiModel):
    """An output of the run (``adapter``, ``merged``, ``model``, ``best``, ``last``) on the checkpoint volume."""

    name: str
    path: str
    kind: str
    size: str
    size_bytes: int


class JobError(ApiModel):
    reason: str
    message: str


class TrainingJob(ApiModel):
    """A training job (the full object from ``get``; list items fill the short form)."""

    id: str
    name: str
    status: str
    model_type: str
    progress: Progress = Field(default_factory=Progress)
    metrics: Metrics = Field(default_factory=Metrics)
    created_at: datetime
    started_at: datetime | None = None
    estimated_completion: datetime | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    dataset_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    resource_allocation: ResourceAllocation | None = None
    resource_usage: ResourceUsage | None = None
    estimated_cost: EstimatedCost | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    error: JobError | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class CompactCost(ApiModel):
    gpu_cost: float
    storage_cost: float
    total_cost: float


class CreatedJob(ApiModel):
    """The answer to a compact (shape B) create."""

    job_id: str
    name: str
    status: str
    estimated_start_time: datetime
    estimated_duration: str
    estimated_cost: CompactCost
    created_at: datetime

    @property
    def id(self) -> str:
        return self.job_id


class Pagination(ApiModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class JobList(ApiModel):
    jobs: list[TrainingJob]
    pagination: Pagination

    def __iter__(self) -> Any:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


class MetricPoint(ApiModel):
    step: int
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = None
    time: datetime


class Event(ApiModel):
    type: str
    reason: str
    message: str
    object: str
    count: int = 1
    time: datetime | None = None


class Dataset(ApiModel):
    id: str
    name: str
    format: str
    source: str
    description: str = ""
    status: str | None = None
    size_bytes: int | None = None
    num_examples: int | None = None
    created_at: datetime


class DatasetList(ApiModel):
    datasets: list[Dataset]
    pagination: Pagination

    def __iter__(self) -> Any:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)
