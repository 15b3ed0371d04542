"""The ``spec`` of the TrainingJob custom resource: the job as documented, plus Kubernetes-style controls.

One class per model type, discriminated by ``modelType``, so that ``spec.config`` always has the type that
matches the job. ``parse_training_job_spec`` is the one way to read a spec; its errors carry the field path
as it appears in the manifest (see ``tensorone.api.validation``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from tensorone.api.base import CamelModel
from tensorone.api.config import CustomConfig, LlmConfig, VisionConfig

API_GROUP = "training.tensorone.ai"
API_VERSION = "v1"
TRAINING_JOB_KIND = "TrainingJob"
TRAINING_JOB_PLURAL = "trainingjobs"
DATASET_KIND = "Dataset"
DATASET_PLURAL = "datasets"

WorkerCount = Annotated[int, Field(ge=1, le=32)]
GpusPerWorker = Annotated[int, Field(ge=1, le=8)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]
# A Kubernetes quantity in bytes, e.g. 32Gi, 100G, 512M.
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k)?$", max_length=32)]
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
    active_deadline_seconds: int | None = Field(None, ge=1, description="Wall-clock limit of the running job")
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Remove the finished job's workers after this many seconds"
    )


class WorkerResources(CamelModel):
    """Per-worker memory and the checkpoint volume's size (operator defaults when unset)."""

    memory: Quantity | None = Field(None, description="Memory of each worker pod, e.g. 32Gi")
    storage: Quantity | None = Field(None, description="Size of the checkpoint volume, e.g. 100Gi")


class _TrainingJobSpecBase(CamelModel):
    display_name: DisplayName = Field(description="The job's name as its owner gave it (any text)")
    description: str = Field("", max_length=10_000, description="Free text about the job")
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50, description="Labels to find the job by"
    )
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
        None, gt=0, description="Stop with a checkpoint once the cost reaches this"
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
    config: LlmConfig = Field(description=CONFIG_DESCRIPTION)


class VisionJobSpec(_TrainingJobSpecBase):
    model_type: Literal[ModelType.VISION] = Field(
        description="llm, vision or custom: which trainer runs and the shape of config"
    )
    config: VisionConfig = Field(description=CONFIG_DESCRIPTION)


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
