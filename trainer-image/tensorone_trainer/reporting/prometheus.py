"""A Prometheus endpoint on rank 0, so a ServiceMonitor can scrape training metrics live.

Metrics carry the job id as a label; the registry is private to the sink so that several runs in one process
(tests) never collide.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tensorone_trainer.reporting.base import StatusSnapshot


class PrometheusSink:
    """Serves the latest step, epoch, losses, learning rate, throughput and progress on ``port``."""

    def __init__(self, port: int, *, job_id: str, addr: str = "0.0.0.0") -> None:
        self.registry = CollectorRegistry()
        labels = ["job_id"]

        def gauge(name: str, doc: str) -> Any:
            return Gauge(f"tensorone_trainer_{name}", doc, labels, registry=self.registry).labels(job_id)

        self._step = gauge("step", "Optimizer steps done")
        self._total_steps = gauge("total_steps", "Optimizer steps planned")
        self._epoch = gauge("epoch", "Current epoch")
        self._loss = gauge("loss", "Training loss of the last step")
        self._best_loss = gauge("best_loss", "Lowest training loss so far")
        self._eval_loss = gauge("eval_loss", "Last validation loss")
        self._lr = gauge("learning_rate", "Learning rate of the last step")
        self._throughput = gauge("throughput", "Tokens or images per second of the last step")
        self._progress = gauge("progress_ratio", "Share of planned steps done (0..1)")
        self._checkpoints = gauge("checkpoints", "Checkpoints kept")
        self._server, self._thread = start_http_server(port, addr=addr, registry=self.registry)

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 asked the OS to pick one)."""
        return int(self._server.server_address[1])

    def publish(self, snapshot: StatusSnapshot) -> None:
        progress, metrics = snapshot.progress, snapshot.metrics
        self._step.set(progress.current_step)
        self._total_steps.set(progress.total_steps)
        self._epoch.set(progress.current_epoch)
        self._progress.set(progress.percentage / 100.0)
        self._checkpoints.set(len(snapshot.checkpoints))
        for target, value in (
            (self._loss, metrics.current_loss),
            (self._best_loss, metrics.best_loss),
            (self._eval_loss, metrics.eval_loss),
            (self._lr, metrics.learning_rate),
            (self._throughput, metrics.throughput_value),
        ):
            if value is not None:
                target.set(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
