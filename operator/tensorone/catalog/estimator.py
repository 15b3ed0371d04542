"""Cost, duration and memory estimates of a job, from the GPU catalog and a FLOPs model.

Assumptions (stated in each estimate's ``assumptions``):
- LoRA/QLoRA training costs about 4·N FLOPs per token (forward 2·N, backward through activations 2·N; no weight
  gradients for frozen weights); full fine-tuning about 6·N. Time = FLOPs / (peak × utilisation × GPUs).
- Dataset tokens come from the dataset's registered size (bytes × tokens-per-byte) or example count × sequence
  length, else a configured assumption. YOLO time comes from an images/s table per GPU and model size at 640 px,
  scaled by the input area.
- Memory per GPU: LoRA keeps the frozen weights in 16-bit (2 bytes/param; 4 in fp32), QLoRA in 4-bit
  (~0.55 bytes/param), full fine-tuning with AdamW needs ~16 bytes/param (weights, gradients, fp32 master
  weights, two moments); plus 20 % for activations and buffers and 2 GB of CUDA context.
- Activations kept for the backward pass (for choosing gradient checkpointing, on top of the above): about
  34·h bytes per token and layer in 16-bit (Korthikanti et al., "Reducing Activation Recomputation in Large
  Transformer Models", 2022, with fused attention: no s² term), twice that in fp32; with gradient checkpointing
  only each layer's input, 2·h bytes per token and layer in 16-bit, plus one layer's activations recomputed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tensorone.api.config import LlmConfig, MixedPrecision, Strategy, VisionConfig
from tensorone.api.errors import ConfigurationError
from tensorone.api.spec import AnyJobSpec, GpuType, LlmJobSpec, VisionJobSpec
from tensorone.api.status import ResourceAllocation
from tensorone.catalog.gpus import GpuCatalog

HOURS_PER_MONTH = 730.0
DEFAULT_STORAGE_GB = 50.0
_CUDA_CONTEXT_GB = 2.0
_ACTIVATION_OVERHEAD = 1.2
_CUSTOM_ASSUMED_SECONDS = 3600.0
# Estimates are capped: a huge (or forged) dataset size must not overflow the dates computed from them.
MAX_ESTIMATED_SECONDS = 100 * 365 * 24 * 3600.0

# Parameter counts of well-known names without a size in them.
_KNOWN_MODELS = {
    "gpt2": 124e6,
    "gpt2-medium": 355e6,
    "gpt2-large": 774e6,
    "gpt2-xl": 1.5e9,
    "distilgpt2": 82e6,
}
_SIZE_IN_NAME = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*([bBmM])(?![a-zA-Z])")


@dataclass(frozen=True)
class DatasetSize:
    """What is known of a dataset's size (from its Dataset resource's status)."""

    size_bytes: int | None = None
    num_examples: int | None = None


@dataclass(frozen=True)
class Estimate:
    gpu_type: GpuType
    gpus_total: int
    hourly: float
    duration_seconds: float
    gpu_cost: float
    storage_cost: float
    parameter_count: float | None = None
    memory_needed_gb: float | None = None
    assumptions: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        """``estimatedCost.total`` of API.md: hourly × estimated duration."""
        return self.gpu_cost


def parameter_count(base_model: str) -> float | None:
    """N of a causal LM: from its local ``config.json`` when readable, else from its name, else None."""
    config_file = Path(base_model) / "config.json"
    try:
        if config_file.is_file():
            return _count_from_config(json.loads(config_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    name = base_model.rstrip("/").rsplit("/", 1)[-1].lower()
    if name in _KNOWN_MODELS:
        return _KNOWN_MODELS[name]
    match = _SIZE_IN_NAME.search(name)
    if match:
        scale = 1e9 if match.group(2).lower() == "b" else 1e6
        return float(match.group(1)) * scale
    return None


def _count_from_config(config: dict[str, object]) -> float:
    hidden = int(str(config.get("hidden_size", config.get("n_embd"))))
    layers = int(str(config.get("num_hidden_layers", config.get("n_layer"))))
    vocab = int(str(config["vocab_size"]))
    intermediate = int(str(config.get("intermediate_size") or 4 * hidden))
    heads = int(str(config.get("num_attention_heads", config.get("n_head", 1))))
    kv_heads = int(str(config.get("num_key_value_heads") or heads))
    attention = 2 * hidden * hidden + 2 * hidden * (hidden * kv_heads // heads)
    gated = str(config.get("hidden_act", "")).lower() in {"silu", "swiglu", "gelu_pytorch_tanh"}
    mlp = (3 if gated else 2) * hidden * intermediate
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", True) else 2)
    return float(layers * (attention + mlp) + embeddings)


def memory_needed_gb(config: LlmConfig, n_params: float) -> float:
    """GB of GPU memory one worker GPU needs for this LLM job (see the module's assumptions)."""
    if config.strategy == Strategy.FULL:
        bytes_per_param = 16.0
    elif config.strategy == Strategy.QLORA:
        bytes_per_param = 0.55
    else:
        bytes_per_param = 4.0 if config.optimization.mixed_precision == MixedPrecision.NO else 2.0
    return n_params * bytes_per_param * _ACTIVATION_OVERHEAD / 1e9 + _CUDA_CONTEXT_GB


_ACTIVATION_BYTES_PER_TOKEN_HIDDEN = 34.0
_CHECKPOINTED_BYTES_PER_TOKEN_HIDDEN = 2.0


def activation_memory_gb(
    *, tokens: int, layers: int, hidden: int, half_precision: bool, checkpointed: bool = False
) -> float:
    """GB of activations one micro-batch of ``tokens`` keeps for its backward pass (see the module's
    assumptions); ``checkpointed``: with gradient checkpointing."""
    scale = 1.0 if half_precision else 2.0
    per_layer = tokens * hidden * scale
    if checkpointed:
        return (
            (layers * _CHECKPOINTED_BYTES_PER_TOKEN_HIDDEN + _ACTIVATION_BYTES_PER_TOKEN_HIDDEN)
            * per_layer
            / 1e9
        )
    return layers * _ACTIVATION_BYTES_PER_TOKEN_HIDDEN * per_layer / 1e9


def training_memory_gb(
    config: LlmConfig, n_params: float, *, tokens: int, layers: int, hidden: int, checkpointed: bool
) -> float:
    """GB one worker GPU needs for this LLM job with micro-batches of ``tokens``: weights, gradients, optimizer
    state and context (``memory_needed_gb``) plus the activations of one micro-batch."""
    half = config.optimization.mixed_precision != MixedPrecision.NO
    activations = activation_memory_gb(
        tokens=tokens, layers=layers, hidden=hidden, half_precision=half, checkpointed=checkpointed
    )
    return memory_needed_gb(config, n_params) + activations


def check_fits(spec: AnyJobSpec, catalog: GpuCatalog) -> None:
    """Refuse (``CONFIGURATION_ERROR`` on ``gpuType``) what the GPU type cannot run: memory, bf16 on Volta."""
    gpu = catalog.gpu(spec.gpu_type)
    if not isinstance(spec, LlmJobSpec):
        return
    if spec.config.optimization.mixed_precision == MixedPrecision.BF16 and not gpu.supports_bf16:
        raise ConfigurationError.single(
            "config.optimization.mixed_precision", f"{gpu.display_name} has no bf16 support; use fp16"
        )
    n_params = parameter_count(spec.config.base_model)
    if n_params is None:
        return
    needed = memory_needed_gb(spec.config, n_params)
    if needed > gpu.memory_gb:
        raise ConfigurationError.single(
            "gpuType",
            f"{spec.config.strategy} fine-tuning of {spec.config.base_model} (~{n_params / 1e9:.2f}B parameters) "
            f"needs about {needed:.1f} GB per GPU; {gpu.display_name} has {gpu.memory_gb:g} GB. "
            "Choose a GPU with more memory or a lighter strategy (lora, qlora).",
        )


def _llm_duration(
    config: LlmConfig,
    catalog: GpuCatalog,
    gpus_total: int,
    dataset: DatasetSize,
    notes: list[str],
    peak: float,
) -> tuple[float, float | None]:
    n_params = parameter_count(config.base_model)
    if n_params is None:
        n_params = 7e9
        notes.append(f"model size of {config.base_model} unknown: assumed 7B parameters")
    seq_len = config.training.max_seq_length or 512
    if dataset.size_bytes:
        tokens = dataset.size_bytes * catalog.tokens_per_byte
    elif dataset.num_examples:
        tokens = dataset.num_examples * seq_len
    else:
        tokens = catalog.assumed_dataset_tokens
        notes.append(f"dataset size unknown: assumed {tokens:,} tokens")
    flops_per_token = 6.0 if config.strategy == Strategy.FULL else 4.0
    flops = flops_per_token * n_params * tokens * config.training.epochs
    seconds = flops / (peak * 1e12 * catalog.assumed_utilization * gpus_total)
    notes.append(
        f"{flops_per_token:g}·N·tokens FLOPs at {catalog.assumed_utilization:.0%} of {peak:g} TFLOP/s per GPU"
    )
    return seconds, n_params


def _vision_duration(
    config: VisionConfig,
    catalog: GpuCatalog,
    gpu_type: GpuType,
    gpus_total: int,
    dataset: DatasetSize,
    notes: list[str],
) -> float:
    images = dataset.num_examples or catalog.assumed_dataset_images
    if not dataset.num_examples:
        notes.append(f"dataset size unknown: assumed {images:,} images")
    size = config.architecture[-1]
    rate = catalog.gpu(gpu_type).yolo_images_per_second.get(size, 100.0)
    width, height = config.input_size
    rate *= (640 * 640) / (width * height)
    train_images = images * (1 - (config.training.validation_split or 0.0))
    return train_images * config.training.epochs / (rate * gpus_total)


def estimate(spec: AnyJobSpec, catalog: GpuCatalog, dataset: DatasetSize | None = None) -> Estimate:
    """Hourly cost, duration and total cost of ``spec`` on ``catalog``'s prices."""
    dataset = dataset or DatasetSize()
    gpu_type = catalog.resolve(spec.gpu_type)
    gpu = catalog.gpu(gpu_type)
    gpus_total = spec.gpus_per_worker * spec.max_workers
    hourly = gpu.price_per_hour * gpus_total
    notes: list[str] = []
    n_params: float | None = None
    needed: float | None = None
    if isinstance(spec, LlmJobSpec):
        seconds, n_params = _llm_duration(spec.config, catalog, gpus_total, dataset, notes, gpu.peak_tflops)
        if n_params is not None:
            needed = memory_needed_gb(spec.config, n_params)
    elif isinstance(spec, VisionJobSpec):
        seconds = _vision_duration(spec.config, catalog, gpu_type, gpus_total, dataset, notes)
    else:
        seconds = _CUSTOM_ASSUMED_SECONDS
        notes.append("custom code: duration unknown, assumed 1 h")
    if seconds > MAX_ESTIMATED_SECONDS:
        seconds = MAX_ESTIMATED_SECONDS
        notes.append("duration capped at 100 years")
    storage_gb = _quantity_gb(spec.resources.storage) if spec.resources.storage else DEFAULT_STORAGE_GB
    storage_cost = storage_gb * catalog.storage_price_per_gb_month * (seconds / 3600) / HOURS_PER_MONTH
    return Estimate(
        gpu_type=gpu_type,
        gpus_total=gpus_total,
        hourly=round(hourly, 4),
        duration_seconds=seconds,
        gpu_cost=round(hourly * seconds / 3600, 4),
        storage_cost=round(storage_cost, 4),
        parameter_count=n_params,
        memory_needed_gb=needed,
        assumptions=notes,
    )


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$")
_FACTORS = {
    None: 1.0,
    "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
}  # fmt: skip


def quantity_bytes(quantity: str) -> float:
    """Bytes of a Kubernetes quantity such as ``100Gi`` or ``32G``."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(f"not a byte quantity: {quantity!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _quantity_gb(quantity: str) -> float:
    return quantity_bytes(quantity) / 1e9


def resource_allocation(spec: AnyJobSpec, catalog: GpuCatalog) -> ResourceAllocation:
    """What a job is given (``resourceAllocation``): shown by the create response and written at admission."""
    gpu = catalog.gpu(spec.gpu_type)
    return ResourceAllocation(
        gpu_type=gpu.display_name,
        gpu_type_id=str(catalog.resolve(spec.gpu_type)),
        workers=spec.max_workers,
        gpus_per_worker=spec.gpus_per_worker,
        memory_per_worker=spec.resources.memory,
    )
