"""What the trainer reads on start (``job.json``): the job's config plus where things are.

The operator writes it into the job's ConfigMap; a person runs the trainer alone with a file of this shape.
Paths are those inside the worker (mount paths); the trainer never reads the raw TrainingJob.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tensorone.api.base import CamelModel
from tensorone.api.config import CustomConfig, LlmConfig, VisionConfig
from tensorone.api.dataset import DatasetFormat


class TrainerDataset(CamelModel):
    """The dataset as the trainer sees it: a local path (file or folder) and its format."""

    path: str = Field(min_length=1)
    format: DatasetFormat


class StatusTarget(CamelModel):
    """The TrainingJob whose status rank 0 patches (absent for local runs: the JSONL sink only)."""

    namespace: str
    name: str


class CheckpointPolicy(CamelModel):
    keep_last: int = Field(3, ge=1, le=1000, description="Keep the last K checkpoints (plus the best)")
    save_every_steps: int | None = Field(None, ge=1, le=10_000_000)


class _TrainerRunConfigBase(CamelModel):
    job_id: str = Field("local", min_length=1)
    data_root: str | None = Field(
        None,
        min_length=1,
        description="The account's data volume as mounted: dataset and model paths must resolve inside it "
        "(symlinks followed). Unset for local runs.",
    )
    dataset: TrainerDataset
    checkpoint: CheckpointPolicy = Field(default_factory=lambda: CheckpointPolicy())
    status_target: StatusTarget | None = None
    report_interval_seconds: float = Field(
        5.0, ge=0.0, le=3600.0, description="At most one status patch per interval"
    )


class LlmRunConfig(_TrainerRunConfigBase):
    model_type: Literal["llm"]
    config: LlmConfig


class VisionRunConfig(_TrainerRunConfigBase):
    model_type: Literal["vision"]
    config: VisionConfig


class CustomRunConfig(_TrainerRunConfigBase):
    model_type: Literal["custom"]
    config: CustomConfig


TrainerRunConfig = Annotated[
    LlmRunConfig | VisionRunConfig | CustomRunConfig, Field(discriminator="model_type")
]
AnyRunConfig = LlmRunConfig | VisionRunConfig | CustomRunConfig

# Exit codes of the trainer that mean "retrying cannot help" (sysexits.h values). The trainer writes a
# termination message naming the field, file or line; the operator fails the job with it.
EXIT_DATA_ERROR = 65
EXIT_CONFIGURATION_ERROR = 78
NON_RETRYABLE_EXIT_CODES = frozenset({EXIT_DATA_ERROR, EXIT_CONFIGURATION_ERROR})
# The environment variable naming the run-config file inside worker pods.
RUN_CONFIG_ENV = "TENSORONE_RUN_CONFIG"
