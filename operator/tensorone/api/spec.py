"""The ``spec`` of the TrainingJob custom resource: the job as documented, plus Kubernetes-style controls.

One class per model type, discriminated by ``modelType``, so that ``spec.config`` always has the type that
matches the job. ``parse_training_job_spec`` is the one way to read a spec; its errors carry the field path
as it appears in the manifest (see ``tensorone.api.validation``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter

from tensorone.api.base import CamelModel
from tensorone.api.config import CustomConfig, LlmConfig, VisionConfig
from tensorone.api.data_paths import MODEL_PATTERN, check_model
from tensorone.api.text import PlainName

API_GROUP = "training.tensorone.ai"
API_VERSION = "v1"
TRAINING_JOB_KIND = "TrainingJob"
TRAINING_JOB_PLURAL = "trainingjobs"
DATASET_KIND = "Dataset"
DATASET_PLURAL = "datasets"

WorkerCount = Annotated[int, Field(ge=1, le=32)]
GpusPerWorker = Annotated[int, Field(ge=1, le=8)]
DisplayName = PlainName
Tag = PlainName
# A Kubernetes quantity in bytes, e.g. 32Gi, 100G, 512M (at most 15 digits before the point: finite, and far
# beyond any node).
Quantity = Annotated[
    str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k)?$", max_length=32)
]
# Where a worker may read a model from: a hub id or a path on the account's data volume (``data_paths``).
ModelLocation = Annotated[str, AfterValidator(check_model)]
YEAR_SECONDS = 366 * 24 * 3600
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]


class ModelType(StrEnum):
    LLM = "llm"
    VISION = "vision"
    CUSTOM = "custom"


class GpuType(StrEnum):
    A100 = "a100"
    H100 = "h100"
    V100 = "v100"
    RTX4090 = "rtx4090"


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class DatasetRef(CamelModel):
    """The Dataset resource (same namespace) the job trains on."""

    name: ObjectName = Field(description="Name of the Dataset resource")


class RunPolicy(CamelModel):
    """Retry and lifetime limits, as Kubernetes Jobs spell them."""

    backoff_limit: int = Field(3, ge=0, le=100, description="Retryable failures before the job fails")
    active_deadline_seconds: int | None = Field(
        None, ge=1, le=YEAR_SECONDS, description="Wall-clock limit of the running job"
    )
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, le=YEAR_SECONDS, description="Remove the finished job's workers after this many seconds"
    )


class WorkerResources(CamelModel):
    """Per-worker memory and the checkpoint volume's size (operator defaults when unset)."""

    memory: Quantity | None = Field(None, description="Memory of each worker pod, e.g. 32Gi")
    storage: Quantity | None = Field(None, description="Size of the checkpoint volume, e.g. 100Gi")


class _TrainingJobSpecBase(CamelModel):
    display_name: DisplayName = Field(description="The job's name as its owner gave it (any text)")
    description: str = Field("", max_length=10_000, description="Free text about the job")
    tags: list[Tag] = Field(default_factory=list, max_length=50, description="Labels to find the job by")
    dataset_ref: DatasetRef = Field(description=DatasetRef.__doc__)
    gpu_type: GpuType | None = Field(None, description="Default: the cluster's default GPU type")
    gpus_per_worker: GpusPerWorker = Field(1, description="GPUs of each worker pod (torchrun processes)")
    max_workers: WorkerCount = Field(1, description="Worker pods, one torchrun node each")
    priority: Priority = Field(Priority.NORMAL, description="Scheduling priority (a PriorityClass)")
    resources: WorkerResources = Field(
        default_factory=lambda: WorkerResources(), description=WorkerResources.__doc__
    )
    suspend: bool = Field(False, description="true stops the job (workers checkpoint and exit)")
    save_checkpoint_on_stop: bool = Field(True, description="Whether stopping writes a checkpoint first")
    resume_from: str | None = Field(
        None, min_length=1, max_length=253, description="Checkpoint id to resume from"
    )
    run_policy: RunPolicy = Field(default_factory=lambda: RunPolicy(), description=RunPolicy.__doc__)
    max_cost: float | None = Field(
        None, gt=0, le=10_000_000, description="Stop with a checkpoint once the cost reaches this"
    )


# Only the spec confines model paths: the trainer reads the same config with paths as mounted in its worker.
class LlmSpecConfig(LlmConfig):
    """``config`` of an ``llm`` job: LoRA, QLoRA or full fine-tuning of a causal language model."""

    base_model: ModelLocation = Field(
        alias="baseModel",
        min_length=1,
        max_length=512,
        description="Hub id (e.g. meta-llama/Llama-2-7b-hf) or a path on the account's data volume",
        json_schema_extra={"pattern": MODEL_PATTERN},
    )


class VisionSpecConfig(VisionConfig):
    """``config`` of a ``vision`` job: Ultralytics YOLO object detection."""

    weights: ModelLocation | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Start from these weights (.pt path on the data volume) instead of scratch",
        json_schema_extra={"pattern": MODEL_PATTERN},
    )


TRAINING_JOB_SPEC_DESCRIPTION = (
    "A training job: the model type and its config, the Dataset it trains on, the GPUs and workers it runs on, "
    "and controls (suspend to stop, resumeFrom, runPolicy, maxCost)."
)
CONFIG_DESCRIPTION = (
    "The training configuration; its fields depend on modelType (llm: baseModel, strategy, parameters, training, "
    "optimization; vision: architecture, input_size, num_classes, training, augmentation; custom: customCode or "
    "image + command)."
)


class LlmJobSpec(_TrainingJobSpecBase):
    model_type: Literal[ModelType.LLM] = Field(
        description="llm, vision or custom: which trainer runs and the shape of config"
    )
    config: LlmSpecConfig = Field(description=CONFIG_DESCRIPTION)


class VisionJobSpec(_TrainingJobSpecBase):
    model_type: Literal[ModelType.VISION] = Field(
        description="llm, vision or custom: which trainer runs and the shape of config"
    )
    config: VisionSpecConfig = Field(description=CONFIG_DESCRIPTION)


class CustomJobSpec(_TrainingJobSpecBase):
    model_type: Literal[ModelType.CUSTOM] = Field(
        description="llm, vision or custom: which trainer runs and the shape of config"
    )
    config: CustomConfig = Field(description=CONFIG_DESCRIPTION)


TrainingJobSpec = Annotated[LlmJobSpec | VisionJobSpec | CustomJobSpec, Field(discriminator="model_type")]
TRAINING_JOB_SPEC_ADAPTER: TypeAdapter[LlmJobSpec | VisionJobSpec | CustomJobSpec] = TypeAdapter(
    TrainingJobSpec
)
AnyJobSpec = LlmJobSpec | VisionJobSpec | CustomJobSpec


def spec_to_wire(spec: AnyJobSpec) -> dict[str, Any]:
    """The spec as stored in the custom resource."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)
