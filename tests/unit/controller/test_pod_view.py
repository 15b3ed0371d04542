"""A worker pod as the operator reads it: the worker is its trainer container, whatever the reporting relay does."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.api import names
from tensorone.controller.pods import parse_pod


def _terminated(code: int) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "startedAt": "2026-01-01T00:00:00Z",
                           "finishedAt": "2026-01-01T00:10:00Z", "message": f"exit {code}"}}  # fmt: skip


def _pod(trainer: dict[str, Any], relay: dict[str, Any], phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": "job-a-worker-0", "labels": {names.ATTEMPT_LABEL: "1"}},
        "spec": {"containers": [{"name": names.TRAINER_CONTAINER}, {"name": names.REPORT_RELAY_CONTAINER}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                # The API server lists container statuses by name: the relay may come either side of the trainer.
                {"name": names.REPORT_RELAY_CONTAINER, "state": relay},
                {"name": names.TRAINER_CONTAINER, "state": trainer},
            ],
        },
    }


@pytest.mark.parametrize("code", [0, 1, 137], ids=["completed", "crashed", "killed"])
def test_a_worker_whose_trainer_ended_is_terminated_while_its_relay_still_runs(code: int) -> None:
    view = parse_pod(_pod(_terminated(code), {"running": {"startedAt": "2026-01-01T00:00:00Z"}}))
    assert view.terminated
    assert not view.running
    assert view.exit_code == code
    assert view.failed == (code != 0)
    assert view.message == f"exit {code}"


def test_a_relay_that_ended_first_does_not_end_the_worker() -> None:
    view = parse_pod(_pod({"running": {"startedAt": "2026-01-01T00:00:00Z"}}, _terminated(0)))
    assert view.running
    assert view.exit_code is None
