"""The training configuration of a job, by model type: the ``config`` object of API.md.

These models are shared by the REST facade (what clients send), the TrainingJob spec (what is stored) and the
trainer (what it runs). Field names are exactly the API's: ``baseModel`` and ``customCode`` in camelCase,
everything else in snake_case, as the hosted service spells them. Defaults are filled on validation.
Every snake_case key is also accepted in camelCase (``batchSize``), as the seed's JavaScript example writes
them; what is stored and returned keeps the API's spelling.
"""

from __future__ import annotations

import ast
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AliasChoices, AliasGenerator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tensorone.api.base import StrictModel

# Every number of the contract has finite bounds (docs/api-notes.md lists them); these are the shared ones.
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LearningRate = Annotated[float, Field(ge=1e-6, le=1e-1)]
ImageSide = Annotated[int, Field(ge=32, le=2048, multiple_of=32)]
Epochs = Annotated[int, Field(ge=1, le=10_000)]
BatchSize = Annotated[int, Field(ge=1, le=4096, description="Per-device batch size")]
WeightDecay = Annotated[float, Field(ge=0.0, le=10.0)]
StepCount = Annotated[int, Field(ge=1, le=10_000_000)]
Patience = Annotated[
    int, Field(ge=1, le=10_000, description="Evaluations without improvement before stopping")
]
ModuleName = Annotated[str, Field(min_length=1, max_length=128)]


def _snake_or_camel(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class ConfigModel(StrictModel):
    """A part of ``config``: keys in the API's snake_case or in camelCase on input; snake_case on output.

    Only the validation alias changes, so the schemas (CRD, OpenAPI) and every dump keep the API's names; a key
    given in both spellings is refused as an unknown field.
    """

    model_config = ConfigDict(alias_generator=AliasGenerator(validation_alias=_snake_or_camel))


class Strategy(StrEnum):
    LORA = "lora"
    QLORA = "qlora"
    FULL = "full"


class OptimizerName(StrEnum):
    ADAMW = "adamw"
    ADAM = "adam"
    SGD = "sgd"


class SchedulerName(StrEnum):
    LINEAR = "linear"
    COSINE = "cosine"
    CONSTANT = "constant"


class MixedPrecision(StrEnum):
    NO = "no"
    FP16 = "fp16"
    BF16 = "bf16"


class LoraParameters(ConfigModel):
    """LoRA adapter settings; ``alpha`` defaults to twice the rank."""

    rank: int = Field(8, ge=1, le=1024, description="LoRA rank r")
    alpha: float | None = Field(None, gt=0, le=16_384, description="LoRA alpha (default 2 x rank)")
    dropout: Fraction = Field(0.05, description="LoRA dropout")
    target_modules: list[ModuleName] | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Module names to adapt (default: the model family's attention projections)",
    )

    @model_validator(mode="after")
    def _default_alpha(self) -> Self:
        if self.alpha is None:
            self.alpha = float(2 * self.rank)
        return self


class CommonTraining(ConfigModel):
    """Training settings every model type shares (same names and ranges everywhere)."""

    epochs: Epochs = 3
    batch_size: BatchSize = 4
    learning_rate: LearningRate = 2e-4
    weight_decay: WeightDecay = 0.0
    optimizer: OptimizerName = OptimizerName.ADAMW
    validation_split: float | None = Field(None, ge=0.0, le=0.5)
    early_stopping_patience: Patience | None = None
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="Random seed (training is deterministic for a given seed on CPU)"
    )


class LlmTraining(CommonTraining):
    """Training settings of causal-LM fine-tuning."""

    warmup_steps: int = Field(0, ge=0, le=10_000_000)
    gradient_accumulation_steps: int = Field(1, ge=1, le=1024)
    max_seq_length: int | None = Field(None, ge=8, le=131072)
    save_every_steps: StepCount | None = Field(None, description="Checkpoint interval in optimizer steps")
    lr_scheduler: SchedulerName = SchedulerName.LINEAR


class VisionTraining(CommonTraining):
    """Training settings of YOLO detection (ultralytics' defaults)."""

    epochs: Epochs = 100
    batch_size: BatchSize = 16
    learning_rate: LearningRate = 0.01
    weight_decay: WeightDecay = 0.0005
    optimizer: OptimizerName = OptimizerName.SGD
    validation_split: float | None = Field(0.2, ge=0.0, le=0.5)
    momentum: Fraction = 0.937
    save_every_epochs: int | None = Field(None, ge=1, le=10_000, description="Checkpoint interval in epochs")


class Optimization(ConfigModel):
    """Numerics and memory settings; unset ones are chosen per run (precision: best; packing: where exact)."""

    mixed_precision: MixedPrecision | None = None
    gradient_checkpointing: bool | None = Field(
        None,
        description="Recompute activations in the backward pass to save memory (about a third more compute);"
        " unset: on only when the memory estimate says the run would not fit the GPU without it",
    )
    max_grad_norm: float = Field(1.0, gt=0.0, le=1_000.0)
    packing: bool | None = Field(
        None,
        description="Pack prompt/completion and chat examples into full-length rows, attention kept inside"
        " each example; unset: wherever the model's attention keeps packed examples apart (checked at start)",
    )
    compile: bool = Field(
        False,
        description="Compile the model with torch.compile (the first steps are slower while it compiles; measured"
        " both ways in the trainer benchmark)",
    )
    async_checkpoint: bool | None = Field(
        None,
        description="Write checkpoints in the background from a copy of the state taken between steps: training"
        " waits only for the copy; a stop waits for the write. Unset: on a GPU, and on CPU when training leaves"
        " a core free for the writer",
    )


class LlmConfig(ConfigModel):
    """``config`` of an ``llm`` job: LoRA, QLoRA or full fine-tuning of a causal language model."""

    base_model: str = Field(
        alias="baseModel",
        min_length=1,
        max_length=512,
        description="Hub id (e.g. meta-llama/Llama-2-7b-hf) or a path/URI the cluster can read",
    )
    strategy: Strategy = Strategy.LORA
    parameters: LoraParameters = Field(default_factory=lambda: LoraParameters())
    training: LlmTraining = Field(default_factory=lambda: LlmTraining())
    optimization: Optimization = Field(default_factory=lambda: Optimization())


class Augmentation(ConfigModel):
    """Ultralytics augmentation settings (its defaults filled in)."""

    mixup: Fraction = 0.0
    copy_paste: Fraction = 0.0
    hsv_h: Fraction = 0.015
    hsv_s: Fraction = 0.7
    hsv_v: Fraction = 0.4
    degrees: float = Field(0.0, ge=0.0, le=180.0)
    translate: Fraction = 0.1
    scale: Fraction = 0.5
    shear: float = Field(0.0, ge=0.0, le=180.0)
    perspective: float = Field(0.0, ge=0.0, le=0.001)
    flipud: Fraction = 0.0
    fliplr: Fraction = 0.5
    mosaic: Fraction = 1.0


class VisionConfig(ConfigModel):
    """``config`` of a ``vision`` job: Ultralytics YOLO object detection."""

    architecture: str = Field(
        "yolov8n",
        pattern=r"^(yolov8|yolov5|yolo11)[nsmlx]?$",
        description="yolov8, yolov5 or yolo11 with an optional size suffix n|s|m|l|x (default n)",
    )
    weights: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Start from these weights (.pt path) instead of scratch",
    )
    input_size: list[ImageSide] = Field(
        default_factory=lambda: [640, 640], min_length=2, max_length=2, description="[width, height]"
    )
    num_classes: int | None = Field(
        None, ge=1, le=10_000, description="Default: from the dataset's data.yaml"
    )
    training: VisionTraining = Field(default_factory=lambda: VisionTraining())
    augmentation: Augmentation = Field(default_factory=lambda: Augmentation())

    @field_validator("architecture")
    @classmethod
    def _default_size(cls, value: str) -> str:
        return value if value[-1] in "nsmlx" else value + "n"


class CustomConfig(ConfigModel):
    """``config`` of a ``custom`` job: Python code defining ``train(context)``, or an image and command."""

    # The CRD states "customCode, or image and command" too (kept as a branch constraint by the generator).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "oneOf": [
                        {
                            "required": ["customCode"],
                            "not": {"anyOf": [{"required": ["image"]}, {"required": ["command"]}]},
                        },
                        {"required": ["image", "command"], "not": {"required": ["customCode"]}},
                    ]
                }
            ]
        }
    )

    custom_code: str | None = Field(
        None,
        alias="customCode",
        min_length=1,
        max_length=200_000,
        description="Python source defining train(context)",
    )
    image: str | None = Field(None, min_length=1, max_length=512)
    command: list[Annotated[str, Field(max_length=4096)]] | None = Field(None, min_length=1, max_length=256)
    training: LlmTraining = Field(default_factory=lambda: LlmTraining())

    @field_validator("custom_code")
    @classmethod
    def _defines_train(cls, source: str | None) -> str | None:
        if source is None:
            return None
        try:
            tree = ast.parse(source)
        except SyntaxError as e:
            raise ValueError(f"Python syntax error at line {e.lineno}: {e.msg}") from e
        defines_train = any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "train"
            for node in tree.body
        )
        if not defines_train:
            raise ValueError("customCode must define a top-level function train(context)")
        return source

    @model_validator(mode="after")
    def _code_or_image(self) -> Self:
        has_code = self.custom_code is not None
        has_image = self.image is not None or self.command is not None
        if has_code == has_image:
            raise ValueError("give either customCode, or image and command")
        if has_image and (self.image is None or self.command is None):
            raise ValueError("image and command go together")
        return self


JobConfig = LlmConfig | VisionConfig | CustomConfig
