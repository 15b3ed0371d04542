"""The job's life from its pods: phase, conditions, retries, stop/resume, budget, deadline, stall."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tensorone.api.status import ConditionType, JobPhase
from tensorone.controller.aggregation import UNSCHEDULABLE_GRACE_SECONDS, JobView, PhaseChange, decide
from tensorone.controller.conditions import condition
from tensorone.controller.pods import PodView
from tests.unit.controller.conftest import NOW, TIMING, make_job, make_spec, pod

PRICE = 3600.0  # one unit of cost per GPU-second keeps the arithmetic readable

CHECKPOINT = {
    "id": "ckpt_step_10",
    "epoch": 0,
    "step": 10,
    "createdAt": "2025-01-01T11:59:00Z",
    "size": "1KB",
    "sizeBytes": 1000,
}


def _phase_after(job_status: dict[str, Any], pods: list[PodView], **spec: Any) -> JobPhase | None:
    return decide(make_job(make_spec(**spec), **job_status), pods, NOW, TIMING, PRICE).status.phase


@pytest.mark.parametrize(
    ("status", "pods", "spec", "expected"),
    [
        ({}, [], {}, JobPhase.PENDING),
        ({}, [pod(phase="Pending", ran_for=None)], {}, JobPhase.PENDING),
        ({}, [pod()], {}, JobPhase.RUNNING),
        ({}, [pod(0), pod(1, phase="Pending", ran_for=None)], {"maxWorkers": 2}, JobPhase.PENDING),
        ({"phase": "running"}, [pod(phase="Succeeded", exit_code=0)], {}, JobPhase.COMPLETED),
        (
            {"phase": "running"},
            [pod(phase="Failed", exit_code=78, message="config.x: bad")],
            {},
            JobPhase.FAILED,
        ),
        ({"phase": "running"}, [pod(phase="Failed", exit_code=137)], {}, JobPhase.PENDING),
        (
            {"phase": "running", "attempts": 4, "failedAttempts": 3},
            [pod(phase="Failed", exit_code=137, attempt=4)],
            {},
            JobPhase.FAILED,
        ),
        (
            {"phase": "running", "attempts": 6},
            [pod(phase="Failed", exit_code=137, attempt=6)],
            {},
            JobPhase.PENDING,
        ),
        ({"phase": "running"}, [pod()], {"suspend": True}, JobPhase.STOPPING),
        ({"phase": "stopping"}, [pod(phase="Succeeded", exit_code=0)], {"suspend": True}, JobPhase.STOPPED),
        ({"phase": "stopping"}, [], {"suspend": True, "saveCheckpointOnStop": False}, JobPhase.CANCELLED),
        ({"phase": "pending"}, [], {"suspend": True}, JobPhase.STOPPED),
    ],
    ids=[
        "admitted-no-pods-yet",
        "pod-waiting-for-node",
        "all-workers-running",
        "one-of-two-running",
        "all-workers-succeeded",
        "trainer-config-error",
        "killed-worker-retries",
        "backoff-limit-reached",
        "resumed-attempts-are-not-failures",
        "stop-requested",
        "stopped-after-checkpoint",
        "stopped-without-checkpoint-is-cancelled",
        "stop-before-start",
    ],
)
def test_phase_follows_the_workers(
    status: dict[str, Any], pods: list[PodView], spec: dict[str, Any], expected: JobPhase
) -> None:
    assert _phase_after(status, pods, **spec) == expected


def test_running_sets_started_at_and_running_condition() -> None:
    decision = decide(make_job(), [pod()], NOW, TIMING, PRICE)
    assert decision.status.started_at == NOW
    running = condition(decision.status, ConditionType.RUNNING)
    assert running is not None
    assert running.status == "True"
    assert [e.reason for e in decision.events] == ["Running"]


def test_missing_workers_are_created_only_once_the_previous_attempt_is_gone() -> None:
    fresh = decide(make_job(attempts=2), [], NOW, TIMING, PRICE)
    waiting = decide(make_job(attempts=2), [pod(attempt=1, deleting=True)], NOW, TIMING, PRICE)
    assert (fresh.create_workers, waiting.create_workers) == (True, False)


def test_unschedulable_worker_reports_the_schedulers_message() -> None:
    message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    decision = decide(
        make_job(), [pod(phase="Pending", ran_for=None, unschedulable=message)], NOW, TIMING, PRICE
    )
    scheduled = condition(decision.status, ConditionType.SCHEDULED)
    assert scheduled is not None
    assert (scheduled.status, scheduled.reason, scheduled.message) == ("False", "Unschedulable", message)


def test_a_worker_unschedulable_for_a_moment_only_is_not_told_yet_but_looked_at_again() -> None:
    message = "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    moment = pod(
        phase="Pending", ran_for=None, unschedulable=message, unschedulable_since=NOW - timedelta(seconds=1)
    )
    decision = decide(make_job(), [moment], NOW, TIMING, PRICE)
    assert condition(decision.status, ConditionType.SCHEDULED) is None
    assert decision.requeue_after is not None
    assert decision.requeue_after <= UNSCHEDULABLE_GRACE_SECONDS - 1
    lasting = pod(phase="Pending", ran_for=None, unschedulable=message,
                  unschedulable_since=NOW - timedelta(seconds=UNSCHEDULABLE_GRACE_SECONDS))  # fmt: skip
    scheduled = condition(decide(make_job(), [lasting], NOW, TIMING, PRICE).status, ConditionType.SCHEDULED)
    assert scheduled is not None
    assert (scheduled.status, scheduled.message) == ("False", message)


def test_non_retryable_trainer_exit_fails_with_its_termination_message() -> None:
    pods = [pod(0, phase="Failed", exit_code=65, message="line 3: not JSON"), pod(1)]
    decision = decide(make_job(make_spec(maxWorkers=2), phase="running"), pods, NOW, TIMING, PRICE)
    assert decision.status.error is not None
    assert (decision.status.error.reason, decision.status.error.message) == ("DataError", "line 3: not JSON")
    assert decision.delete_pods == [p.name for p in pods]
    assert decision.archive_attempt == 1


def test_retry_deletes_the_other_workers_and_resumes_from_the_latest_checkpoint() -> None:
    pods = [pod(0), pod(1, phase="Failed", exit_code=137)]
    job = make_job(make_spec(maxWorkers=2), phase="running", checkpoints=[CHECKPOINT])
    decision = decide(job, pods, NOW, TIMING, PRICE)
    assert decision.status.attempts == 2
    assert decision.status.resumed_from == "ckpt_step_10"
    assert sorted(decision.delete_pods) == sorted(p.name for p in pods)
    assert decision.create_workers is False


def test_a_job_stopped_and_resumed_five_times_still_gets_its_full_backoff_limit() -> None:
    spec = make_spec(runPolicy={"backoffLimit": 2})
    job = make_job(spec, phase="running", attempts=6)
    retries = 0
    while True:
        decision = decide(
            job, [pod(phase="Failed", exit_code=137, attempt=job.status.attempts)], NOW, TIMING, PRICE
        )
        if decision.status.phase == JobPhase.FAILED:
            break
        retries += 1
        job = JobView(job.name, job.generation, spec, decision.status.model_copy(update={"phase": "running"}))
    assert retries == 2
    assert decision.status.error is not None
    assert decision.status.error.reason == "BackoffLimitExceeded"


def test_a_worker_vanishing_from_a_running_job_counts_as_node_loss() -> None:
    decision = decide(make_job(make_spec(maxWorkers=2), phase="running"), [pod(0)], NOW, TIMING, PRICE)
    assert decision.status.attempts == 2


def test_resume_starts_a_new_attempt_from_the_requested_checkpoint() -> None:
    job = make_job(
        make_spec(resumeFrom="ckpt_step_10"), generation=3, phase="stopped", checkpoints=[CHECKPOINT]
    )
    decision = decide(job, [], NOW, TIMING, PRICE)
    assert (decision.status.phase, decision.status.attempts, decision.status.resumed_from) == (
        JobPhase.PENDING,
        2,
        "ckpt_step_10",
    )


def test_resuming_a_job_that_ran_out_of_retries_gives_it_its_retries_again() -> None:
    job = make_job(
        make_spec(resumeFrom="ckpt_step_10", runPolicy={"backoffLimit": 1}),
        generation=3,
        phase="failed",
        attempts=3,
        failedAttempts=2,
        checkpoints=[CHECKPOINT],
    )
    resumed = decide(job, [], NOW, TIMING, PRICE)
    assert resumed.status.phase == JobPhase.PENDING
    running = JobView(
        job.name, job.generation, job.spec, resumed.status.model_copy(update={"phase": "running"})
    )
    failure = decide(running, [pod(phase="Failed", exit_code=137, attempt=4)], NOW, TIMING, PRICE)
    assert failure.status.phase != JobPhase.FAILED, "the first failure after a resume is retried"


def test_resume_from_an_unknown_checkpoint_creates_no_pods() -> None:
    job = make_job(make_spec(resumeFrom="ckpt_nope"), generation=3, phase="stopped", checkpoints=[CHECKPOINT])
    decision = decide(job, [], NOW, TIMING, PRICE)
    suspended = condition(decision.status, ConditionType.SUSPENDED)
    assert suspended is not None
    assert suspended.reason == "CheckpointNotFound"
    assert decision.status.phase == JobPhase.STOPPED
    assert decision.create_workers is False


def test_budget_reached_stops_with_a_checkpoint() -> None:
    job = make_job(make_spec(maxCost=30.0), phase="running")
    decision = decide(job, [pod(ran_for=60)], NOW, TIMING, PRICE)
    suspended = condition(decision.status, ConditionType.SUSPENDED)
    assert suspended is not None
    assert suspended.reason == "BudgetExceeded"
    assert decision.status.phase == JobPhase.STOPPING
    assert decision.delete_grace_seconds == TIMING.termination_grace_period_seconds


def test_active_deadline_fails_the_job() -> None:
    job = make_job(
        make_spec(runPolicy={"activeDeadlineSeconds": 10}),
        phase="running",
        startedAt=(NOW - timedelta(seconds=11)).isoformat(),
    )
    decision = decide(job, [pod()], NOW, TIMING, PRICE)
    assert decision.status.phase == JobPhase.FAILED
    assert decision.status.error is not None
    assert decision.status.error.reason == "DeadlineExceeded"


@pytest.mark.parametrize(
    ("last_report_ago", "stalled"),
    [(10.0, None), (120.0, "True")],
    ids=["reporting", "silent-longer-than-window"],
)
def test_a_trainer_that_stops_reporting_is_marked_stalled(
    last_report_ago: float, stalled: str | None
) -> None:
    job = make_job(phase="running", lastReportTime=(NOW - timedelta(seconds=last_report_ago)).isoformat())
    decision = decide(job, [pod(ran_for=300)], NOW, TIMING, PRICE)
    found = condition(decision.status, ConditionType.STALLED)
    assert (found.status if found else None) == stalled


def test_finished_job_children_go_after_the_ttl() -> None:
    spec = make_spec(runPolicy={"ttlSecondsAfterFinished": 60})
    early = decide(
        make_job(spec, phase="completed", completedAt=(NOW - timedelta(seconds=30)).isoformat()),
        [],
        NOW,
        TIMING,
        PRICE,
    )
    late = decide(
        make_job(spec, phase="completed", completedAt=(NOW - timedelta(seconds=61)).isoformat()),
        [],
        NOW,
        TIMING,
        PRICE,
    )
    assert (early.remove_children, late.remove_children) == (False, True)
    assert early.requeue_after == pytest.approx(30)


@pytest.mark.parametrize(
    ("status", "pods", "spec", "expected"),
    [
        ({}, [pod()], {}, ("pending", "running", "WorkersRunning")),
        ({"phase": "running"}, [pod()], {"suspend": True}, ("running", "stopping", "Stopping")),
        (
            {"phase": "running"},
            [pod(ran_for=60)],
            {"maxCost": 30.0},
            ("running", "stopping", "BudgetExceeded"),
        ),
        ({"phase": "running"}, [pod(phase="Failed", exit_code=137)], {}, ("running", "pending", "Retrying")),
        (
            {"phase": "running", "startedAt": (NOW - timedelta(seconds=11)).isoformat()},
            [pod()],
            {"runPolicy": {"activeDeadlineSeconds": 10}},
            ("running", "failed", "DeadlineExceeded"),
        ),
        (
            {"phase": "running"},
            [pod(phase="Succeeded", exit_code=0)],
            {},
            ("running", "completed", "Completed"),
        ),
        ({"phase": "running", "lastReportTime": NOW.isoformat()}, [pod()], {}, None),
    ],
    ids=["starts", "stop", "budget", "retry", "deadline", "completes", "no-change"],
)
def test_each_phase_change_is_told_with_its_reason(
    status: dict[str, Any], pods: list[PodView], spec: dict[str, Any], expected: tuple[str, str, str] | None
) -> None:
    change = decide(make_job(make_spec(**spec), **status), pods, NOW, TIMING, PRICE).transition
    assert (None if change is None else (change.before, change.after, change.reason)) == expected


def test_a_retry_within_pending_is_still_told_as_a_new_attempt() -> None:
    decision = decide(make_job(), [pod(phase="Failed", exit_code=137)], NOW, TIMING, PRICE)
    assert decision.transition == PhaseChange(
        JobPhase.PENDING,
        JobPhase.PENDING,
        2,
        "Retrying",
        "worker 0: exit 137; attempt 2 resumes from the start",
    )
