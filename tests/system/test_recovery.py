"""Failures a cluster sees: a worker killed outright, the operator killed again and again."""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tensorone.sdk.models import TrainingJob

from .conftest import (
    Platform,
    learnable_records,
    lora_config,
    put_language_assets,
    until,
    worker_process_groups,
)

CHECKPOINT_INTERVAL = 5


def _two_worker_job(platform: Platform, tiny_model: Path, name: str, **training: Any) -> TrainingJob:
    """A 2-worker LoRA job on a learnable dataset, submitted through the API."""
    model, data = put_language_assets(platform, tiny_model, learnable_records(96))
    dataset = platform.client.datasets.create(name="zen", format="jsonl", source=data)
    job = platform.client.training.jobs.create(
        name=name, model_type="llm", dataset_id=dataset.id, gpu_type="a100", max_workers=2,
        config=lora_config(model, **training),
    )  # fmt: skip
    assert isinstance(job, TrainingJob)
    return job


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_worker_killed_with_sigkill_is_recovered_from_the_latest_checkpoint(
    platform: Platform, tiny_model: Path
) -> None:
    client = platform.client
    job = _two_worker_job(platform, tiny_model, "survivor", epochs=3, save_every_steps=CHECKPOINT_INTERVAL)
    first = platform.wait_job(
        job.id, lambda j: len(j.checkpoints) >= 2 or (j.status != "running" and j.status not in {"queued", "pending"}),
        "two checkpoints",
    )  # fmt: skip
    assert first.status == "running"
    groups = until("worker 1's processes", lambda: worker_process_groups(job.id, worker=1, attempt=1))
    killed_at_step = client.training.jobs.get(job.id).progress.current_step
    for group in groups:
        os.killpg(group, signal.SIGKILL)
    final = platform.wait_finished(job.id, timeout=300)
    assert final.status == "completed", final.error
    status = platform.job_resource(job.id)["status"]
    assert status["attempts"] == 2
    resumed_from = status.get("resumedFrom")
    assert resumed_from, "the second attempt did not resume from a checkpoint"
    resumed_step = int(resumed_from.rsplit("_", 1)[1]) if resumed_from.startswith("ckpt_step_") else None
    if resumed_step is not None:
        assert killed_at_step - resumed_step <= CHECKPOINT_INTERVAL + 1, (
            "lost more than one checkpoint interval"
        )
    steps = [p.step for p in client.training.jobs.metrics(job.id) if p.loss is not None]
    assert steps == list(range(1, final.progress.total_steps + 1))


def test_operator_killed_at_random_moments_loses_no_job_and_double_counts_no_usage(
    platform: Platform, tiny_model: Path
) -> None:
    client = platform.client
    job = _two_worker_job(platform, tiny_model, "steady", epochs=4, save_every_steps=10)
    chance = random.Random(1234)
    most_pods = 0
    first_start: datetime | None = None  # the earliest moment any container of the job's pods ran

    def look() -> None:
        nonlocal most_pods, first_start
        pods = platform.pods(job.id)
        most_pods = max(most_pods, len(pods))
        for pod in pods:
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                state = container.get("state") or {}
                started = (state.get("running") or state.get("terminated") or {}).get("startedAt")
                if started:
                    moment = _moment(started)
                    first_start = moment if first_start is None else min(first_start, moment)

    for _ in range(3):
        deadline = time.monotonic() + chance.uniform(1.0, 6.0)
        while time.monotonic() < deadline:
            look()
            time.sleep(0.2)
        platform.kill_operator()
        time.sleep(chance.uniform(0.5, 2.0))
        look()
        platform.start_operator()
    deadline = time.monotonic() + 300
    job_now = client.training.jobs.get(job.id)
    while job_now.status not in {"completed", "failed"} and time.monotonic() < deadline:
        look()
        time.sleep(0.3)
        job_now = client.training.jobs.get(job.id)
    assert job_now.status == "completed", platform.diagnosis(job.id)
    assert platform.operator_starts == 4
    assert most_pods <= 2, "more pods than workers at some moment"
    status = platform.job_resource(job.id)["status"]
    assert first_start is not None
    # From its first container's start (not startedAt: that is when *all* workers ran, and an operator killed
    # while they start sets it late) to completion, two one-GPU workers accrue at most 2 GPU-seconds per second;
    # a window counted twice after an operator restart would push usage past that.
    ran = (_moment(status["completedAt"]) - first_start).total_seconds()
    assert 0 < status["resourceUsage"]["gpuSeconds"] <= 2 * ran + 2
    assert status["attempts"] == 1
