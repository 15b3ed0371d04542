"""GPU-seconds accrue only while workers run, per GPU, and survive restarts without double counting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tensorone.api.status import ResourceUsage
from tensorone.controller.usage import accrue
from tests.unit.controller.conftest import NOW, pod


@pytest.mark.parametrize(
    ("pods", "expected_gpu_seconds"),
    [
        ([], 0.0),
        ([pod(phase="Pending", ran_for=None)], 0.0),
        ([pod(ran_for=100, gpus=1)], 100.0),
        ([pod(0, ran_for=100, gpus=4), pod(1, ran_for=50, gpus=4)], 600.0),
        ([pod(phase="Failed", ran_for=100, exit_code=137, finished_at=NOW - timedelta(seconds=40))], 60.0),
    ],
    ids=["no-workers", "pending-worker-costs-nothing", "one-gpu", "per-worker-per-gpu", "stops-at-exit"],
)
def test_gpu_seconds_count_running_time_per_gpu(pods: list, expected_gpu_seconds: float) -> None:  # type: ignore[type-arg]
    assert accrue(None, pods, NOW, 3.6).gpu_seconds == pytest.approx(expected_gpu_seconds)


def test_usage_continues_from_the_persisted_instant_after_a_restart() -> None:
    worker = pod(ran_for=100, gpus=2)
    first = accrue(None, [worker], NOW - timedelta(seconds=40), 3.6)
    again = accrue(first, [worker], NOW - timedelta(seconds=40), 3.6)
    later = accrue(again, [worker], NOW, 3.6)
    assert first.gpu_seconds == pytest.approx(120.0)
    assert again == first
    assert later.gpu_seconds == pytest.approx(200.0)


def test_cost_and_hours_follow_gpu_seconds_and_configured_price() -> None:
    usage = accrue(ResourceUsage(), [pod(ran_for=3600, gpus=2)], NOW, price_per_gpu_hour=2.5)
    assert (usage.gpu_hours, usage.cost) == (pytest.approx(2.0), pytest.approx(5.0))


def test_a_worker_whose_start_is_reported_late_is_billed_from_its_start() -> None:
    # Pass 1 sees worker 1 running and worker 0 not started yet; worker 0 had started 5 s before, which its pod's
    # status shows only at pass 2, 3 s later (a kubelet's report comes a moment after the start).
    first = accrue(None, [pod(0, phase="Pending", ran_for=None), pod(1, ran_for=10)], NOW, 3.6)
    second = accrue(first, [pod(0, ran_for=5), pod(1, ran_for=10)], NOW + timedelta(seconds=3), 3.6)
    assert second.gpu_seconds == pytest.approx(8.0 + 13.0)  # each worker from its own start, once


def test_the_mark_held_back_for_an_unstarted_worker_counts_nothing_twice() -> None:
    unstarted = pod(0, phase="Pending", ran_for=None)
    running = pod(1, ran_for=100)
    usage = None
    for seconds in range(0, 60, 7):
        usage = accrue(usage, [unstarted, running], NOW + timedelta(seconds=seconds), 3.6)
    final = accrue(usage, [running], NOW + timedelta(seconds=60), 3.6)
    assert final.gpu_seconds == pytest.approx(160.0)
