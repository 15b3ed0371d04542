"""Checkpoint saves that keep training going: the loop hands a CPU copy of its state to one background writer.

The loop blocks only while it copies the state (trainable weights, optimizer, scheduler, scaler, RNG, counters)
to host memory; serialising, hashing, fsync and the atomic rename run in a writer thread through the same
``CheckpointStore.save`` a synchronous save uses, so the folder layout, the manifest and the "complete or
absent" guarantee are unchanged. A checkpoint is reported only once that rename is done: the loop collects
finished saves (``completed``) and reports them from its own thread, and a stop waits for the save in flight.

Why a thread and not ``torch.distributed.checkpoint.async_save``: DCP writes its own sharded layout
(``.distcp`` files and a metadata file) and wants a process group, while this platform's checkpoint is a folder
of safetensors, the peft adapter and a ``torch.save``'d state under a hashed manifest that resume, retention
and the artifact download all read. Only rank 0 writes, and file writes and hashing release the GIL, so a
thread gives the same overlap without a second on-disk format.

The writer needs a CPU core the training leaves free: on a GPU node the steps run on the GPU and the host's
cores are mostly idle, but a CPU-only run whose intra-op threads occupy every core would have the writer
oversubscribe them, slowing the steps by more than the save costs (measured: ``benchmarks/checkpoint_stall.py``
with every core training). ``background_saves_pay`` decides an unset ``optimization.async_checkpoint``.

At most one save is in flight: a new one first waits for the previous (that wait counts as stall, and the
benchmark shows it when saves come faster than the disk takes them), and only then copies the state, so that
the copy never competes with a write for the cores, memory bandwidth and the GIL.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tensorone.api.status import CheckpointInfo
from tensorone_trainer.checkpoints import CheckpointStore, Manifest

log = logging.getLogger(__name__)


def background_saves_pay(
    requested: bool | None, *, on_gpu: bool, training_threads: int, usable_cores: int
) -> bool:
    """As set; unset: on a GPU, or on CPU when the training threads leave a core free for the writer."""
    if requested is not None:
        return requested
    return on_gpu or training_threads < usable_cores


def cpu_copy(value: Any) -> Any:
    """A deep copy of ``value`` whose tensors live in host memory and share nothing with the originals.

    The optimizer's and the model's tensors change in place at the next step, so the writer must never hold a
    reference to them (``optimizer.state_dict()`` returns references, not copies).
    """
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: cpu_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cpu_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(cpu_copy(item) for item in value)
    return copy.deepcopy(value)


@dataclass(frozen=True)
class SavedCheckpoint:
    """A save that is durably in place, with the store's checkpoint list right after it (retention applied)."""

    manifest: Manifest
    checkpoints: list[CheckpointInfo]


class CheckpointWriter:
    """Saves into ``store`` in the background (``background=True``) or inline; one save in flight at most.

    Only the loop's thread calls these methods (the writer thread runs nothing but ``CheckpointStore.save``).
    """

    def __init__(self, store: CheckpointStore, *, background: bool) -> None:
        self.store = store
        self.background = background
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer") if background else None
        )
        self._in_flight: Future[SavedCheckpoint] | None = None
        self._done: list[SavedCheckpoint] = []
        self.waited_seconds = 0.0
        """How long the latest ``submit`` waited for the save before it (part of the loop's stall)."""

    def submit(
        self,
        checkpoint_id: str,
        *,
        snapshot: Callable[[], Callable[[Path], None]],
        epoch: int,
        step: int,
        loss: float | None,
        eval_loss: float | None,
        attempt: int | None,
    ) -> None:
        """Wait for the previous save (raising its error, if it failed), then call ``snapshot``, which copies the
        state and returns the function that writes the copy's files into a folder, and save that."""
        began = time.perf_counter()
        self.wait()
        self.waited_seconds = time.perf_counter() - began
        if self.waited_seconds > 1.0:
            log.warning(
                "checkpoint %s waited %.1f s for the previous save to finish: saves come faster than the volume"
                " takes them (save less often or use a faster volume)",
                checkpoint_id,
                self.waited_seconds,
            )
        write = snapshot()

        def save() -> SavedCheckpoint:
            began = time.perf_counter()
            manifest = self.store.save(
                checkpoint_id,
                epoch=epoch,
                step=step,
                loss=loss,
                eval_loss=eval_loss,
                attempt=attempt,
                write=write,
            )
            saved = SavedCheckpoint(manifest, [m.to_info() for m in self.store.manifests()])
            log.debug("checkpoint %s durable after %.3f s", checkpoint_id, time.perf_counter() - began)
            return saved

        if self._pool is None:
            self._finish(save())
            return
        self._in_flight = self._pool.submit(save)

    def _finish(self, saved: SavedCheckpoint) -> None:
        self._done.append(saved)

    def wait(self) -> None:
        """Block until the save in flight (if any) is in place; re-raise what made it fail."""
        future, self._in_flight = self._in_flight, None
        if future is not None:
            self._finish(future.result())

    def completed(self) -> list[SavedCheckpoint]:
        """Saves now in place and not yet collected, oldest first (a finished background save is collected
        without waiting)."""
        if self._in_flight is not None and self._in_flight.done():
            self.wait()
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Wait for the save in flight and stop the writer thread."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
