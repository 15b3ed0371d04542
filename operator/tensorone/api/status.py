"""The ``status`` of the TrainingJob custom resource and who writes each part.

The operator (trusted) owns phase, conditions, timestamps, attempts, allocation, estimates, usage and cost.
The trainer's rank 0 (untrusted user code may run beside it) writes only ``progress``, ``metrics``,
``optimizations``, ``checkpoints``, ``history``, ``artifacts`` and ``lastReportTime`` (see ``TRAINER_STATUS_FIELDS``). Cost is never computed
from what the trainer reports.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, computed_field

from tensorone.api.base import OpenCamelModel
from tensorone.api.display import loss_text, money_text, percent_text
from tensorone.api.names import ARTIFACT_NAME_PATTERN


class JobPhase(StrEnum):
    """The job's status as the API names it (also the STATUS printer column)."""

    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_PHASES = frozenset({JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED, JobPhase.STOPPED})
RESUMABLE_PHASES = frozenset({JobPhase.STOPPED, JobPhase.CANCELLED, JobPhase.FAILED})


class ConditionType(StrEnum):
    ADMITTED = "Admitted"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STALLED = "Stalled"
    # The initializer fetches the job's dataset and model and checks the data before any worker (phase stays
    # queued, shown as pending); True while it runs, with its progress as the message.
    INITIALIZING = "Initializing"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(OpenCamelModel):
    type: ConditionType
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field("", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(None, ge=0)


class Progress(OpenCamelModel):
    current_epoch: int = Field(0, ge=0)
    total_epochs: int = Field(0, ge=0)
    current_step: int = Field(0, ge=0)
    total_steps: int = Field(0, ge=0)
    percentage: float = Field(0.0, ge=0.0, le=100.0)
    elapsed_time: float = Field(0.0, ge=0.0, description="Seconds of training so far")
    remaining_time: float | None = Field(None, ge=0.0, description="Seconds left, from measured step times")

    @computed_field(description='percentage as a whole percent, e.g. "42%" (PROGRESS column of kubectl get)')  # type: ignore[prop-decorator]
    @property
    def percent_display(self) -> str:
        return percent_text(self.percentage)


class Metrics(OpenCamelModel):
    current_loss: float | None = None
    best_loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    throughput: str | None = Field(None, description='"1250 tokens/sec" or "95 images/sec"')
    throughput_value: float | None = Field(None, ge=0.0)
    memory_usage: str | None = Field(None, description='Peak memory, e.g. "38.2GB"')
    map50: float | None = Field(None, alias="mAP50")
    map50_95: float | None = Field(None, alias="mAP50_95")

    @computed_field(description="currentLoss to 4 significant digits (LOSS column of kubectl get)")  # type: ignore[prop-decorator]
    @property
    def loss_display(self) -> str | None:
        return None if self.current_loss is None else loss_text(self.current_loss)


class Optimizations(OpenCamelModel):
    """What the trainer chose for this run's speed (each from the model, the GPU, the data and the config)."""

    packing: bool = Field(description="Examples packed into full-length rows, attention kept inside each")
    attention: str = Field(max_length=64, description='Attention implementation, e.g. "sdpa"')
    mixed_precision: str = Field(max_length=16, description='"no", "fp16" or "bf16"')
    fused_optimizer: bool = Field(description="Fused optimizer kernel (CUDA only)")
    pinned_memory: bool = Field(description="Batches copied to the GPU from pinned host memory")
    gradient_checkpointing: bool = False
    compile: bool = Field(False, description="Model compiled with torch.compile")
    async_checkpoint: bool = Field(
        False, description="Checkpoints written in the background from a state copy"
    )


class CheckpointInfo(OpenCamelModel):
    id: str
    epoch: int = Field(ge=0)
    step: int = Field(ge=0)
    loss: float | None = None
    created_at: datetime
    size: str = Field(description='Human size, e.g. "2.3GB"')
    size_bytes: int = Field(ge=0)
    attempt: int | None = Field(None, ge=0)


class Artifact(OpenCamelModel):
    """One output of a finished run, as the trainer wrote it on the checkpoint volume."""

    name: str = Field(
        pattern=ARTIFACT_NAME_PATTERN, description="adapter, merged, model, best, last (names.ARTIFACT_*)"
    )
    path: str = Field(
        max_length=4096, description="Where it is on the checkpoint volume, as the workers mount it"
    )
    kind: str = Field(pattern=r"^(file|folder)$")
    size: str = Field(description='Human size, e.g. "2.3GB"')
    size_bytes: int = Field(ge=0)


class MetricPoint(OpenCamelModel):
    """One logged optimizer step, for plotting (the /metrics history of the API)."""

    step: int = Field(ge=0)
    epoch: float | None = Field(None, ge=0.0)
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = Field(None, ge=0.0)
    # A detection model's validation mAP, on the evaluation points of vision jobs.
    map50: float | None = Field(None, ge=0.0, le=1.0, alias="mAP50")
    map50_95: float | None = Field(None, ge=0.0, le=1.0, alias="mAP50_95")
    time: datetime


class ResourceAllocation(OpenCamelModel):
    gpu_type: str = Field(description='Display name, e.g. "NVIDIA A100"')
    gpu_type_id: str | None = None
    workers: int = Field(ge=1)
    gpus_per_worker: int = Field(1, ge=1)
    memory_per_worker: str | None = None


class ResourceUsage(OpenCamelModel):
    gpu_seconds: float = Field(0.0, ge=0.0)
    gpu_hours: float = Field(0.0, ge=0.0)
    cost: float = Field(0.0, ge=0.0)
    efficiency: float | None = Field(
        None, ge=0.0, le=1.0, description="Share of GPU time spent in training steps"
    )
    accrued_until: datetime | None = Field(None, description="Usage is counted up to this instant")

    @computed_field(description='cost in dollars to the cent, e.g. "$1.25" (COST column of kubectl get)')  # type: ignore[prop-decorator]
    @property
    def cost_display(self) -> str:
        return money_text(self.cost)


class EstimatedCost(OpenCamelModel):
    hourly: float = Field(ge=0.0)
    total: float = Field(ge=0.0)
    currency: str = "USD"


class JobError(OpenCamelModel):
    reason: str
    message: str


class TrainingJobStatus(OpenCamelModel):
    phase: JobPhase | None = None
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = Field(None, ge=0)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    attempts: int = Field(0, ge=0)
    failed_attempts: int = Field(
        0, ge=0, description="Attempts ended by a retryable failure; runPolicy.backoffLimit counts these"
    )
    resumed_from: str | None = Field(
        None,
        description="Checkpoint id the current attempt resumes from (chosen when the attempt starts); after a"
        " retryable failure, the newest one reported so far: the workers resume from the newest intact checkpoint"
        " on the volume, this one or a newer one written since",
    )
    resource_allocation: ResourceAllocation | None = None
    estimated_cost: EstimatedCost | None = None
    estimated_duration_seconds: float | None = Field(None, ge=0.0)
    estimated_completion: datetime | None = None
    resource_usage: ResourceUsage | None = None
    error: JobError | None = None
    # Written by the trainer (rank 0):
    progress: Progress | None = None
    metrics: Metrics | None = None
    optimizations: Optimizations | None = None
    checkpoints: list[CheckpointInfo] = Field(default_factory=list)
    history: list[MetricPoint] = Field(default_factory=list, max_length=2000)
    artifacts: list[Artifact] = Field(default_factory=list, max_length=32)
    last_report_time: datetime | None = None


TRAINER_STATUS_FIELDS = frozenset(
    {"progress", "metrics", "optimizations", "checkpoints", "history", "artifacts", "lastReportTime"}
)
