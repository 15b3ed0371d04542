"""What every training loop gets from the entrypoint: where to write, what to resume, whom to report to.

Built once by the CLI so that the LLM, YOLO and custom loops share the same checkpoint store, stop flag,
process group and reporting sinks instead of each setting them up its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tensorone.api.status import MetricPoint
from tensorone_trainer.checkpoints import CheckpointStore, Manifest
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.signals import StopRequest


@dataclass
class RunContext:
    """The run's surroundings (the config itself is passed beside it)."""

    output_dir: Path
    store: CheckpointStore
    resume_from: str | None
    merge: bool
    dist: DistInfo
    stop: StopRequest
    attempt: int | None
    make_reporter: Callable[..., Reporter]
    """``make_reporter(total_epochs=, total_steps=, throughput_unit=, history=, elapsed_before=, best_loss=)``."""
    load_history: Callable[[int | None], list[MetricPoint]]
    """The history of earlier attempts up to a step (the file is trimmed to it on rank 0)."""

    def resume_manifest(self) -> Manifest | None:
        """The checkpoint to start from, or ``None`` for a fresh start (``latest`` with nothing saved yet)."""
        if self.resume_from is None:
            return None
        if self.resume_from == "latest" and not self.store.manifests():
            return None
        return self.store.resolve(self.resume_from)
