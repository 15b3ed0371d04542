"""Shared inputs of the controller's pure tests: a parsed job, its dataset and pods in any state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tensorone.api.dataset import DatasetSpec
from tensorone.api.resources import parse_training_job_spec
from tensorone.api.spec import AnyJobSpec
from tensorone.api.status import TrainingJobStatus
from tensorone.controller.aggregation import JobView, Timing
from tensorone.controller.builders import JobContext
from tensorone.controller.pods import PodView
from tensorone.controller.settings import OperatorSettings

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
TIMING = Timing(
    stall_window_seconds=60, termination_grace_period_seconds=30, usage_flush_seconds=30, resync_seconds=30
)


def make_spec(**overrides: Any) -> AnyJobSpec:
    raw: dict[str, Any] = {
        "displayName": "tune",
        "modelType": "custom",
        "datasetRef": {"name": "ds-1"},
        "config": {"customCode": "def train(context):\n    pass\n"},
        "gpuType": "a100",
    }
    raw.update(overrides)
    return parse_training_job_spec(raw)


def make_context(spec: AnyJobSpec | None = None, **settings: Any) -> JobContext:
    return JobContext(
        name="job-0123456789abcdef",
        namespace="team-a",
        uid="uid-1",
        spec=spec or make_spec(),
        dataset=DatasetSpec(display_name="d", format="jsonl", source="/datasets/train.jsonl"),  # type: ignore[arg-type]
        settings=OperatorSettings(**settings),
        gpu_products=("NVIDIA-A100-SXM4-80GB",),
    )


def make_job(spec: AnyJobSpec | None = None, generation: int = 1, **status: Any) -> JobView:
    base: dict[str, Any] = {"phase": "pending", "attempts": 1, "observedGeneration": 1}
    base.update(status)
    return JobView(
        name="job-0123456789abcdef",
        generation=generation,
        spec=spec or make_spec(),
        status=TrainingJobStatus.model_validate(base),
    )


def pod(
    index: int = 0,
    phase: str = "Running",
    attempt: int = 1,
    ran_for: float | None = 60.0,
    exit_code: int | None = None,
    **fields: Any,
) -> PodView:
    return PodView(
        name=f"job-0123456789abcdef-worker-{index}",
        index=index,
        attempt=attempt,
        phase=phase,
        gpus=fields.pop("gpus", 1),
        running_since=NOW - timedelta(seconds=ran_for) if ran_for is not None else None,
        exit_code=exit_code,
        finished_at=fields.pop("finished_at", NOW if exit_code is not None else None),
        **fields,
    )


@pytest.fixture
def ctx() -> JobContext:
    return make_context()
