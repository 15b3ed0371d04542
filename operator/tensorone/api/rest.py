"""The REST shapes of the v2 API (shared/API.md): requests, responses and the error body.

camelCase on the wire, snake_case in Python. Request models refuse unknown fields; their ranges come from
the same annotated types as the TrainingJob spec, so REST and CRD cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from tensorone.api.base import CamelModel
from tensorone.api.config import BatchSize, Epochs, LearningRate
from tensorone.api.dataset import DatasetFormat
from tensorone.api.spec import DisplayName, GpusPerWorker, Priority, Tag, WorkerCount


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z``: ``2024-01-15T10:30:00Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2024-01-15T10:30:00Z"}),
]


class RestModelType(StrEnum):
    LLM = "llm"
    VISION = "vision"
    MULTIMODAL = "multimodal"
    CUSTOM = "custom"


class RestGpuType(StrEnum):
    A100 = "a100"
    H100 = "h100"
    V100 = "v100"
    RTX4090 = "rtx4090"


_CONFIG_SCHEMA = WithJsonSchema(
    {
        "type": "object",
        "description": "Training configuration by modelType (llm: baseModel, strategy, parameters, training, "
        "optimization; vision: architecture, input_size, num_classes, training, augmentation; custom: "
        "customCode or image + command)",
        "additionalProperties": True,
        "example": {
            "baseModel": "meta-llama/Llama-2-7b-hf",
            "strategy": "lora",
            "parameters": {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
            "training": {"epochs": 3, "batch_size": 4, "learning_rate": 0.0002},
        },
    }
)


class CreateJobRequest(CamelModel):
    """Shape A: the documented form."""

    name: DisplayName
    description: str = Field("", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    model_type: RestModelType
    dataset_id: str = Field(min_length=1, max_length=253)
    config: Annotated[dict[str, Any], _CONFIG_SCHEMA]
    gpu_type: RestGpuType | None = None
    max_workers: WorkerCount = 1
    priority: Priority = Priority.NORMAL


class CompactModelType(StrEnum):
    LANGUAGE_MODEL = "language_model"
    LLM = "llm"
    VISION_MODEL = "vision_model"
    VISION = "vision"
    MULTIMODAL = "multimodal"
    CUSTOM = "custom"


class CompactGpuType(StrEnum):
    A100 = "a100"
    H100 = "h100"
    V100 = "v100"
    RTX4090 = "rtx4090"
    RTX_4090 = "rtx-4090"
    A_100 = "a-100"
    H_100 = "h-100"
    V_100 = "v-100"


Size = Annotated[
    str,
    Field(pattern=r"^\s*[0-9]{1,15}(\.[0-9]{1,6})?\s*(B|KB|MB|GB|TB|Ki|Mi|Gi|Ti|K|M|G|T)\s*$", max_length=32),
]


class ModelConfigB(CamelModel):
    model_type: CompactModelType
    base_model: str | None = Field(None, min_length=1, max_length=512)
    custom_code: str | None = Field(None, min_length=1, max_length=200_000)


class DatasetConfigB(CamelModel):
    dataset_id: str | None = Field(None, min_length=1, max_length=253)
    dataset_url: str | None = Field(None, min_length=1, max_length=2048)
    format: DatasetFormat | None = None


class HyperparametersB(CamelModel):
    learning_rate: LearningRate | None = None
    batch_size: BatchSize | None = None
    epochs: Epochs | None = None
    optimizer: str | None = Field(None, max_length=32)


class InfrastructureB(CamelModel):
    gpu_type: CompactGpuType | None = None
    gpu_count: GpusPerWorker = 1
    memory: Size | None = None
    storage: Size | None = None


class CreateJobRequestCompact(CamelModel):
    """Shape B: the compact form."""

    name: DisplayName
    description: str = Field("", max_length=10_000)
    framework: Literal["pytorch"] = "pytorch"
    model_config_: ModelConfigB = Field(alias="modelConfig")
    dataset_config: DatasetConfigB
    hyperparameters: HyperparametersB = Field(default_factory=lambda: HyperparametersB())
    infrastructure: InfrastructureB = Field(default_factory=lambda: InfrastructureB())


# The largest ``offset`` of a list query (pages past it would be empty anyway: accounts are capped far below).
MAX_OFFSET = 1_000_000

COMPACT_SHAPE_KEYS = frozenset(
    {"framework", "modelConfig", "datasetConfig", "hyperparameters", "infrastructure"}
)


class StopJobRequest(CamelModel):
    save_checkpoint: bool = True
    reason: str | None = Field(None, max_length=1000)


class ResumeJobRequest(CamelModel):
    checkpoint_id: str | None = Field(None, min_length=1, max_length=253)


class CreateDatasetRequest(CamelModel):
    name: DisplayName
    format: DatasetFormat
    source: str = Field(min_length=1, max_length=2048, description="URL or absolute path on a cluster volume")
    description: str = Field("", max_length=10_000)


# ---- responses ---------------------------------------------------------------------------------------------


class ResponseModel(CamelModel):
    """Responses always carry every documented key; absent values are null."""


class ProgressOut(ResponseModel):
    current_epoch: int = 0
    total_epochs: int = 0
    current_step: int = 0
    total_steps: int = 0
    percentage: float = 0.0
    elapsed_time: float = 0.0
    remaining_time: float | None = None


class MetricsOut(ResponseModel):
    current_loss: float | None = None
    best_loss: float | None = None
    learning_rate: float | None = None
    throughput: str | None = None
    memory_usage: str | None = None


class ResourceAllocationOut(ResponseModel):
    gpu_type: str
    workers: int
    memory_per_worker: str | None = None


class ResourceUsageOut(ResponseModel):
    gpu_hours: float = 0.0
    cost: float = 0.0
    efficiency: float | None = None


class EstimatedCostOut(ResponseModel):
    hourly: float
    total: float


class CheckpointOut(ResponseModel):
    id: str
    epoch: int
    step: int
    loss: float | None = None
    created_at: Timestamp
    size: str


class ArtifactOut(ResponseModel):
    """A result of the run: the LoRA adapter, the merged model, YOLO's best weights…"""

    name: str
    path: str = Field(description="On the job's checkpoint volume, as its workers mount it")
    kind: str = Field(description="file or folder")
    size: str
    size_bytes: int


class OptimizationsOut(ResponseModel):
    """What the trainer chose for the run's speed (``status.optimizations``), once it has started."""

    packing: bool
    attention: str
    mixed_precision: str
    fused_optimizer: bool
    pinned_memory: bool
    gradient_checkpointing: bool
    compile: bool
    async_checkpoint: bool


class JobErrorOut(ResponseModel):
    reason: str
    message: str


class JobSummary(ResponseModel):
    """An item of the list: the short form."""

    id: str
    name: str
    status: str
    model_type: str
    progress: ProgressOut
    metrics: MetricsOut
    created_at: Timestamp
    started_at: Timestamp | None = None
    estimated_completion: Timestamp | None = None


class JobObject(JobSummary):
    """The full job object (Get, create shape A, stop, resume)."""

    description: str = ""
    tags: list[str] = Field(default_factory=list)
    dataset_id: str
    config: dict[str, Any]
    resource_allocation: ResourceAllocationOut | None = None
    resource_usage: ResourceUsageOut
    estimated_cost: EstimatedCostOut | None = None
    checkpoints: list[CheckpointOut] = Field(default_factory=list)
    artifacts: list[ArtifactOut] = Field(default_factory=list, description="The run's outputs, once written")
    optimizations: OptimizationsOut | None = Field(
        None,
        description="Speed options the trainer chose (packing, precision, compile, …); null before it starts",
    )
    updated_at: Timestamp
    completed_at: Timestamp | None = None
    error: JobErrorOut | None = None


class CompactCost(ResponseModel):
    gpu_cost: float
    storage_cost: float
    total_cost: float


class CompactCreateResponse(ResponseModel):
    job_id: str
    name: str
    status: str
    estimated_start_time: Timestamp
    estimated_duration: str
    estimated_cost: CompactCost
    created_at: Timestamp


class EstimateCostOut(ResponseModel):
    hourly: float
    total: float
    storage: float
    currency: str


class JobEstimateResponse(ResponseModel):
    """``POST /v2/training/jobs:estimate``: what create would estimate for the same body; nothing is created."""

    gpu_type: str
    workers: int
    gpus_per_worker: int
    estimated_duration: str
    estimated_duration_seconds: float
    estimated_cost: EstimateCostOut
    assumptions: list[str] = Field(default_factory=list)


class Pagination(ResponseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class JobListResponse(ResponseModel):
    jobs: list[JobSummary]
    pagination: Pagination


class MetricPointOut(ResponseModel):
    step: int
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    throughput: float | None = None
    map50: float | None = Field(None, alias="mAP50")
    map50_95: float | None = Field(None, alias="mAP50_95")
    time: Timestamp


class MetricsHistoryResponse(ResponseModel):
    points: list[MetricPointOut]


class CheckpointListResponse(ResponseModel):
    checkpoints: list[CheckpointOut]


class EventOut(ResponseModel):
    type: str
    reason: str
    message: str
    object: str
    count: int = 1
    time: Timestamp | None = None


class EventListResponse(ResponseModel):
    events: list[EventOut]


class DatasetObject(ResponseModel):
    id: str
    name: str
    format: str
    source: str
    description: str = ""
    status: str | None = None
    size_bytes: int | None = None
    num_examples: int | None = None
    created_at: Timestamp


class DatasetListResponse(ResponseModel):
    datasets: list[DatasetObject]
    pagination: Pagination


class ErrorBody(ResponseModel):
    error: str
    message: str
    details: dict[str, Any] | None = None


def human_duration(seconds: float) -> str:
    """``8100`` → ``"2h 15m"`` (the compact create response's ``estimatedDuration``)."""
    total_minutes = max(1, round(seconds / 60))
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def human_size(size_bytes: float) -> str:
    """``2_300_000_000`` → ``"2.3GB"`` (decimal units, as the API's examples)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size_bytes < 1000 or unit == "TB":
            return f"{size_bytes:.0f}{unit}" if unit == "B" else f"{size_bytes:.1f}{unit}"
        size_bytes /= 1000
    raise AssertionError("unreachable")
