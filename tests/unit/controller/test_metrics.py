"""The jobs-by-phase gauge follows each job between phases and forgets deleted jobs."""

from __future__ import annotations

from tensorone.controller.metrics import OperatorMetrics


def _jobs(metrics: OperatorMetrics, namespace: str, phase: str) -> float | None:
    return metrics.registry.get_sample_value("tensorone_jobs", {"namespace": namespace, "phase": phase})


def test_a_job_moves_from_one_phase_count_to_the_next() -> None:
    metrics = OperatorMetrics()
    metrics.observe_phase("team-a", "job-1", "pending")
    metrics.observe_phase("team-a", "job-2", "pending")
    metrics.observe_phase("team-b", "job-1", "pending")
    metrics.observe_phase("team-a", "job-1", "running")
    metrics.observe_phase("team-a", "job-1", "running")  # a pass that changed nothing counts nothing
    assert _jobs(metrics, "team-a", "pending") == 1
    assert _jobs(metrics, "team-a", "running") == 1
    assert _jobs(metrics, "team-b", "pending") == 1


def test_a_deleted_job_leaves_the_counts() -> None:
    metrics = OperatorMetrics()
    metrics.observe_phase("team-a", "job-1", "completed")
    metrics.observe_phase("team-a", "job-1", None)
    metrics.observe_phase("team-a", "job-1", None)  # deletion seen twice is still one job gone
    assert _jobs(metrics, "team-a", "completed") == 0
