"""Gradient checkpointing only when memory needs it: the platform's estimate decides an unset option, a set one
is obeyed, and a run without a GPU never recomputes."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.api.config import LlmConfig
from tensorone.catalog.estimator import activation_memory_gb
from tensorone_trainer.memory import ModelShape, choose_gradient_checkpointing

LLAMA_7B = ModelShape(parameters=6.7e9, layers=32, hidden=4096)
HALF_B = ModelShape(parameters=0.5e9, layers=24, hidden=1024)


def _config(gradient_checkpointing: bool | None = None, **more: Any) -> LlmConfig:
    optimization: dict[str, Any] = {"mixed_precision": "bf16", **more}
    if gradient_checkpointing is not None:
        optimization["gradient_checkpointing"] = gradient_checkpointing
    return LlmConfig.model_validate({"baseModel": "org/model", "optimization": optimization})


@pytest.mark.parametrize(
    ("requested", "shape", "tokens", "gpu_gb", "chosen"),
    [
        (None, LLAMA_7B, 8 * 4096, 80.0, True),  # ~150 GB of activations: cannot fit without it
        (None, LLAMA_7B, 1 * 512, 80.0, False),  # ~2 GB of activations: fits, no recompute
        (None, HALF_B, 8 * 1024, 80.0, False),  # the GPU check's model and batch
        (None, HALF_B, 8 * 1024, 8.0, True),  # the same on a small GPU
        (None, LLAMA_7B, 8 * 4096, None, False),  # no GPU: host memory, recomputing buys nothing
        (False, LLAMA_7B, 8 * 4096, 80.0, False),  # set: obeyed, even where the estimate disagrees
        (True, HALF_B, 8, None, True),
    ],
    ids=["7b-long-batch", "7b-short-batch", "gpu-check", "small-gpu", "cpu", "forced-off", "forced-on-cpu"],
)
def test_gradient_checkpointing_is_chosen_from_the_memory_estimate(
    requested: bool | None, shape: ModelShape, tokens: int, gpu_gb: float | None, chosen: bool
) -> None:
    config = _config(requested)
    assert (
        choose_gradient_checkpointing(config, shape, tokens_per_micro_batch=tokens, gpu_memory_gb=gpu_gb)
        is chosen
    )


def test_checkpointed_activations_are_a_fraction_of_the_full_ones() -> None:
    full = activation_memory_gb(tokens=8 * 4096, layers=32, hidden=4096, half_precision=True)
    kept = activation_memory_gb(
        tokens=8 * 4096, layers=32, hidden=4096, half_precision=True, checkpointed=True
    )
    assert kept < full / 5
    assert activation_memory_gb(tokens=512, layers=32, hidden=4096, half_precision=False) == pytest.approx(
        2 * activation_memory_gb(tokens=512, layers=32, hidden=4096, half_precision=True)
    )


def test_unset_gradient_checkpointing_stays_unset_in_the_config() -> None:
    assert _config().optimization.gradient_checkpointing is None
    assert "gradient_checkpointing" not in _config().model_dump(exclude_none=True)["optimization"]
