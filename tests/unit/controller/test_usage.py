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
