"""GPU usage and cost: counted from the pods' own start/finish times, never from what the trainer reports.

Usage is accrued up to ``accruedUntil`` (persisted in status): each pass adds, per worker and per GPU, the part of
``[accruedUntil, now]`` during which the worker's container was running. Because the interval starts where the
persisted one ended, a restarted operator neither loses nor double-counts time.

A kubelet reports a container's start a moment after it happened: a pass that sees a worker not started yet holds
the mark ``START_REPORT_LAG_SECONDS`` back, so that worker's first seconds, shown by a later pass with a start time
before that pass, still fall after the mark and are counted (they were lost when the mark had already passed them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tensorone.api.status import ResourceUsage
from tensorone.controller.pods import PodView

START_REPORT_LAG_SECONDS = 15.0


def gpu_seconds_between(pods: Sequence[PodView], start: datetime | None, end: datetime) -> float:
    """GPU-seconds the pods' containers ran within ``[start, end]`` (``start`` None: since they started)."""
    total = 0.0
    for pod in pods:
        if pod.running_since is None:
            continue
        begin = pod.running_since if start is None else max(start, pod.running_since)
        finish = min(end, pod.finished_at) if pod.finished_at else end
        if finish > begin:
            total += (finish - begin).total_seconds() * pod.gpus
    return total


def accrue(
    usage: ResourceUsage | None,
    pods: Sequence[PodView],
    now: datetime,
    price_per_gpu_hour: float,
    training_seconds: float | None = None,
    gpus_total: int = 1,
) -> ResourceUsage:
    """Usage after adding what ``pods`` ran since the last accrual.

    Args:
        usage: the persisted usage (None before the first worker ran).
        pods: every worker pod still present, of any attempt.
        now: the end of the interval to count.
        price_per_gpu_hour: from the operator's pricing configuration.
        training_seconds: time the trainer spent in training steps (for ``efficiency`` only).
        gpus_total: GPUs of the job, to turn ``training_seconds`` into GPU-seconds.
    """
    previous = usage or ResourceUsage()
    since = previous.accrued_until
    until = now
    if any(p.running_since is None and not p.terminated for p in pods):
        until = now - timedelta(seconds=START_REPORT_LAG_SECONDS)  # one may have started, unreported yet
    if since is not None and until <= since:
        return previous
    gpu_seconds = previous.gpu_seconds + gpu_seconds_between(pods, since, until)
    efficiency = previous.efficiency
    if training_seconds is not None and gpu_seconds > 0:
        efficiency = round(min(1.0, training_seconds * gpus_total / gpu_seconds), 4)
    return ResourceUsage(
        gpu_seconds=round(gpu_seconds, 3),
        gpu_hours=round(gpu_seconds / 3600.0, 6),
        cost=round(gpu_seconds / 3600.0 * price_per_gpu_hour, 6),
        efficiency=efficiency,
        accrued_until=until,
    )


def seconds_until_budget(
    usage: ResourceUsage, pods: Sequence[PodView], price: float, budget: float
) -> float | None:
    """When, at the current burn rate, ``usage.cost`` reaches ``budget`` (None when nothing runs)."""
    gpus_running = sum(p.gpus for p in pods if p.running)
    if gpus_running == 0 or price <= 0:
        return None
    per_second = gpus_running * price / 3600.0
    return max(0.0, (budget - usage.cost) / per_second)
