"""The reporter: turns what the loop measures into the trainer's part of the job status.

The loop calls :meth:`Reporter.step`, :meth:`Reporter.evaluation` and :meth:`Reporter.checkpoints_changed`;
the reporter derives progress (percentage, elapsed, remaining from measured step times), keeps the metrics
(current/best loss, learning rate, throughput, peak memory) and a bounded history, and hands a snapshot holding
only ``TRAINER_STATUS_FIELDS`` to every sink. Sinks decide how often to ship it.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import torch

from tensorone.api.status import (
    TRAINER_STATUS_FIELDS,
    Artifact,
    CheckpointInfo,
    MetricPoint,
    Metrics,
    Optimizations,
    Progress,
)
from tensorone_trainer.checkpoints import human_size

log = logging.getLogger(__name__)

LOG_LINES = 100
"""A long run logs about this many progress lines (a short one, one per step)."""
MAX_STATUS_HISTORY = 2000
"""The status carries at most this many history points (the contract's limit); metrics.jsonl keeps all."""


@dataclass
class StatusSnapshot:
    """The trainer-owned part of the status at one moment, plus the points new since the last snapshot."""

    progress: Progress
    metrics: Metrics
    checkpoints: list[CheckpointInfo]
    history: list[MetricPoint]
    last_report_time: datetime
    new_points: list[MetricPoint] = field(default_factory=list)
    final: bool = False
    optimizations: Optimizations | None = None
    artifacts: list[Artifact] = field(default_factory=list)

    def to_status_patch(self, *, with_history: bool = True) -> dict[str, Any]:
        """The status fields the trainer may write, camelCase (history is the costly part: optional)."""
        patch: dict[str, Any] = {
            "progress": self.progress.to_wire(),
            "metrics": self.metrics.to_wire(),
            **({"optimizations": self.optimizations.to_wire()} if self.optimizations else {}),
            "checkpoints": [c.to_wire() for c in self.checkpoints],
            "artifacts": [a.to_wire() for a in self.artifacts],
            "lastReportTime": self.last_report_time.isoformat(),
        }
        if with_history:
            patch["history"] = [p.to_wire() for p in self.history]
        assert set(patch) <= TRAINER_STATUS_FIELDS
        return patch


class Sink(Protocol):
    """Somewhere reports go. ``publish`` must be cheap and must not raise for transport trouble."""

    def publish(self, snapshot: StatusSnapshot) -> None: ...

    def close(self) -> None: ...


def thin_history(points: list[MetricPoint], limit: int = MAX_STATUS_HISTORY) -> list[MetricPoint]:
    """At most ``limit`` points spanning the whole run: the older half is thinned to every other point."""
    while len(points) > limit:
        half = len(points) // 2
        points = points[:half:2] + points[half:]
    return points


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def progress_line(progress: Progress, metrics: Metrics, epoch: float) -> str:
    """``step 12/40 epoch 1.30/2 loss 2.3456 lr 1.00e-04 1250 tokens/sec ETA 0:01:23``: the run at a glance."""
    parts = [
        f"step {progress.current_step}/{progress.total_steps or '?'}",
        f"epoch {epoch:.2f}/{progress.total_epochs}",
    ]
    if metrics.current_loss is not None:
        parts.append(f"loss {metrics.current_loss:.4f}")
    if metrics.learning_rate is not None:
        parts.append(f"lr {metrics.learning_rate:.2e}")
    if metrics.throughput:
        parts.append(metrics.throughput)
    if progress.remaining_time is not None:
        parts.append(f"ETA {_duration(progress.remaining_time)}")
    return " ".join(parts)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


class Reporter:
    """Rank 0's view of the run. Other ranks get a reporter with no sinks (all calls are cheap no-ops)."""

    def __init__(
        self,
        sinks: list[Sink],
        *,
        total_epochs: int,
        total_steps: int,
        throughput_unit: str,
        device: torch.device,
        history: list[MetricPoint] | None = None,
        elapsed_before: float = 0.0,
        best_loss: float | None = None,
    ) -> None:
        self.sinks = sinks
        self.total_epochs = total_epochs
        self.total_steps = total_steps
        self.throughput_unit = throughput_unit
        self.device = device
        self._history = thin_history(list(history or []))
        self._new: list[MetricPoint] = []
        self._elapsed_before = elapsed_before
        self._started = time.monotonic()
        self._step_times: deque[float] = deque(maxlen=50)
        self._last_step_at: float | None = None
        self.metrics = Metrics(best_loss=best_loss)
        self.progress = Progress(total_epochs=total_epochs, total_steps=total_steps)
        self.checkpoints: list[CheckpointInfo] = []
        self.optimizations: Optimizations | None = None
        self.artifacts: list[Artifact] = []

    def set_totals(self, *, total_epochs: int | None = None, total_steps: int | None = None) -> None:
        """For loops that learn their length late (custom code)."""
        if total_epochs is not None:
            self.total_epochs = total_epochs
        if total_steps is not None:
            self.total_steps = total_steps
        self.progress = self.progress.model_copy(
            update={"total_epochs": self.total_epochs, "total_steps": self.total_steps}
        )

    @property
    def elapsed(self) -> float:
        """Seconds of training over every attempt so far."""
        return self._elapsed_before + (time.monotonic() - self._started)

    def step(
        self,
        *,
        step: int,
        epoch: float,
        loss: float,
        learning_rate: float | None,
        throughput: float | None,
    ) -> None:
        """One optimizer step finished (``epoch`` may be fractional: 1.5 is halfway through the second)."""
        now = time.monotonic()
        if self._last_step_at is not None:
            self._step_times.append(now - self._last_step_at)
        self._last_step_at = now
        best = loss if self.metrics.best_loss is None else min(self.metrics.best_loss, loss)
        memory = peak_memory_bytes(self.device)
        self.metrics = self.metrics.model_copy(
            update={
                "current_loss": loss,
                "best_loss": best,
                "learning_rate": learning_rate,
                "throughput": None if throughput is None else f"{throughput:.0f} {self.throughput_unit}/sec",
                "throughput_value": throughput,
                "memory_usage": human_size(memory),
            }
        )
        mean_step = sum(self._step_times) / len(self._step_times) if self._step_times else None
        remaining = None if mean_step is None else mean_step * max(0, self.total_steps - step)
        self.progress = Progress(
            current_epoch=min(self.total_epochs, int(epoch) + (0 if epoch == int(epoch) else 1)),
            total_epochs=self.total_epochs,
            current_step=step,
            total_steps=self.total_steps,
            percentage=round(min(100.0, 100.0 * step / max(1, self.total_steps)), 2),
            elapsed_time=round(self.elapsed, 3),
            remaining_time=None if remaining is None else round(remaining, 3),
        )
        if self.sinks and self._log_due(step):
            log.info("%s", progress_line(self.progress, self.metrics, epoch))
        self._add_point(
            MetricPoint(
                step=step,
                epoch=round(epoch, 6),
                loss=loss,
                learning_rate=learning_rate,
                throughput=throughput,
                time=datetime.now(UTC),
            )
        )

    def _log_due(self, step: int) -> bool:
        """One progress line per logging step: every step of a short run, about LOG_LINES of a long one."""
        every = max(1, -(-self.total_steps // LOG_LINES)) if self.total_steps else 1
        return step % every == 0 or step == self.total_steps or step == 1

    def evaluation(
        self, *, step: int, epoch: float, eval_loss: float, extra: dict[str, float] | None = None
    ) -> None:
        update: dict[str, Any] = {"eval_loss": eval_loss}
        update.update(extra or {})
        self.metrics = self.metrics.model_copy(update=update)
        extra = extra or {}
        self._add_point(
            MetricPoint(
                step=step,
                epoch=round(epoch, 6),
                eval_loss=eval_loss,
                map50=extra.get("map50"),
                map50_95=extra.get("map50_95"),
                time=datetime.now(UTC),
            )
        )

    def optimizations_chosen(self, optimizations: Optimizations) -> None:
        """What the loop chose for speed (packing, attention, ...), shown in the status from now on."""
        self.optimizations = optimizations
        self.publish()

    def artifacts_written(self, artifacts: list[Artifact]) -> None:
        """The run's outputs exist (sent with the next report; the final one at the latest)."""
        self.artifacts = list(artifacts)
        for artifact in artifacts:
            log.info("artifact %s: %s (%s)", artifact.name, artifact.path, artifact.size)

    def checkpoints_changed(self, checkpoints: list[CheckpointInfo]) -> None:
        self.checkpoints = list(checkpoints)
        self.publish()

    def _add_point(self, point: MetricPoint) -> None:
        self._history = thin_history([*self._history, point])
        self._new.append(point)
        self.publish()

    def publish(self, *, final: bool = False) -> None:
        if not self.sinks:
            self._new = []
            return
        snapshot = StatusSnapshot(
            progress=self.progress.model_copy(update={"elapsed_time": round(self.elapsed, 3)}),
            metrics=self.metrics,
            checkpoints=self.checkpoints,
            history=list(self._history),
            last_report_time=datetime.now(UTC),
            new_points=self._new,
            final=final,
            optimizations=self.optimizations,
            artifacts=self.artifacts,
        )
        self._new = []
        for sink in self.sinks:
            try:
                sink.publish(snapshot)
            except Exception:  # a sink must never end training
                log.exception("reporting sink %s failed", type(sink).__name__)

    def close(self, *, completed: bool = False) -> None:
        if completed:
            # Never below the last reported step: custom code may not tell its total, and the endpoint refuses a
            # step that goes back.
            step = max(self.progress.current_step, self.total_steps)
            self.progress = self.progress.model_copy(
                update={"percentage": 100.0, "remaining_time": 0.0, "current_step": step}
            )
        self.publish(final=True)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing reporting sink %s failed", type(sink).__name__)
