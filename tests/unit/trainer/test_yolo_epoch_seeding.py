"""A YOLO epoch draws the same shuffle and worker-side augmentations whatever the loader did before it.

That is what makes a resumed run (a fresh loader starting at epoch k) repeat the uninterrupted run's epoch k. On
GPUs ultralytics loads batches in worker processes whose random state would otherwise run on across epochs.
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from ultralytics.data.build import InfiniteDataLoader, seed_worker

from tensorone_trainer.yolo import _Bridge


class RandomAugmentations(torch.utils.data.Dataset[tuple[int, float]]):
    """Each sample: its index and a draw from the loading process's ``random`` (as augmentations draw)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> tuple[int, float]:
        return index, random.random()


def _loader(workers: int) -> InfiniteDataLoader:
    generator = torch.Generator()
    generator.manual_seed(1)
    return InfiniteDataLoader(
        RandomAugmentations(), batch_size=2, shuffle=True, num_workers=workers,
        worker_init_fn=seed_worker, generator=generator,
    )  # fmt: skip


def _epoch(bridge: _Bridge, loader: InfiniteDataLoader, epoch: int) -> list[Any]:
    trainer = SimpleNamespace(train_loader=loader, epoch=epoch)
    bridge._seed_epoch(trainer)
    return [
        (batch[0].tolist(), batch[1].tolist()) for _, batch in zip(range(len(loader)), loader, strict=False)
    ]


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-workers"])
def test_an_epoch_draws_the_same_after_a_resume_as_in_the_uninterrupted_run(workers: int) -> None:
    training = SimpleNamespace(seed=42, save_every_epochs=1)
    bridge = _Bridge(SimpleNamespace(config=SimpleNamespace(training=training)), None, None)  # type: ignore[arg-type]
    uninterrupted = _loader(workers)
    try:
        first = _epoch(bridge, uninterrupted, 0)
        second = _epoch(bridge, uninterrupted, 1)
    finally:
        uninterrupted.close()
    resumed = _loader(workers)  # a new process resuming at epoch 1: nothing drawn before
    try:
        assert _epoch(bridge, resumed, 1) == second
    finally:
        resumed.close()
    assert second != first  # epochs differ from each other: the seed is per epoch, not one for all
