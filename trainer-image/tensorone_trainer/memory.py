"""Whether a run needs gradient checkpointing: only when the memory estimate says it would not fit otherwise.

Gradient checkpointing recomputes each layer's forward pass during the backward pass (about a third more
compute) to keep only the layers' inputs; it is worth that only when the activations would not fit. The
estimate is the platform's own (``tensorone.catalog.estimator``, the one admission uses), so the operator and the
trainer agree on what a job needs. ``config.optimization.gradient_checkpointing`` overrides the choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tensorone.api.config import LlmConfig
from tensorone.catalog.estimator import training_memory_gb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs of the model."""

    parameters: float
    layers: int
    hidden: int


def choose_gradient_checkpointing(
    config: LlmConfig, shape: ModelShape, *, tokens_per_micro_batch: int, gpu_memory_gb: float | None
) -> bool:
    """As set in ``config.optimization``; unset: on when the estimate without it exceeds the GPU's memory
    (``gpu_memory_gb``; None = no GPU, where host memory is the limit and recomputing buys nothing: off)."""
    requested = config.optimization.gradient_checkpointing
    if requested is not None:
        return requested
    if gpu_memory_gb is None:
        return False
    needed = training_memory_gb(
        config,
        shape.parameters,
        tokens=tokens_per_micro_batch,
        layers=shape.layers,
        hidden=shape.hidden,
        checkpointed=False,
    )
    if needed <= gpu_memory_gb:
        log.info("gradient checkpointing off: about %.1f GB needed of %.1f GB", needed, gpu_memory_gb)
        return False
    with_it = training_memory_gb(
        config,
        shape.parameters,
        tokens=tokens_per_micro_batch,
        layers=shape.layers,
        hidden=shape.hidden,
        checkpointed=True,
    )
    log.info(
        "gradient checkpointing on: about %.1f GB needed without it, %.1f GB with it, of %.1f GB",
        needed,
        with_it,
        gpu_memory_gb,
    )
    return True
