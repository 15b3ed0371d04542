"""Prometheus metrics of the control plane, served on ``--metrics-port``."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class OperatorMetrics:
    """One set of metrics per operator process (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "tensorone_jobs", "TrainingJobs by phase", ["namespace", "phase"], registry=self.registry
        )
        self.reconcile_seconds = Histogram(
            "tensorone_reconcile_duration_seconds", "Time of one reconcile pass", registry=self.registry
        )
        self.admission_seconds = Histogram(
            "tensorone_admission_latency_seconds",
            "From the job's creation to its admission decision",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.gpu_seconds = Counter(
            "tensorone_gpu_seconds",
            "GPU-seconds used by workers",
            ["namespace", "gpu_type"],
            registry=self.registry,
        )
        self.cost = Counter(
            "tensorone_cost", "Cost of GPU usage", ["namespace", "gpu_type"], registry=self.registry
        )
        self.worker_restarts = Counter(
            "tensorone_worker_restarts",
            "Workers replaced after a retryable failure",
            ["namespace"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "tensorone_api_requests", "Operator requests to the API server", ["verb"], registry=self.registry
        )
        self._phases: dict[tuple[str, str], str] = {}
        self._reported_requests: Tally[str] = Tally()

    def observe_phase(self, namespace: str, name: str, phase: str | None) -> None:
        """The job's phase now (None: it is gone); moves it between the per-phase counts (O(1) per call)."""
        key = (namespace, name)
        before = self._phases.pop(key, None) if phase is None else self._phases.get(key)
        if before == phase:
            return
        if before is not None:
            self.jobs.labels(namespace, before).dec()
        if phase is not None:
            self._phases[key] = phase
            self.jobs.labels(namespace, phase).inc()

    def observe_requests(self, requests: Tally[str]) -> None:
        for verb, count in requests.items():
            delta = count - self._reported_requests[verb]
            if delta > 0:
                self.api_requests.labels(verb).inc(delta)
        self._reported_requests = Tally(requests)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
