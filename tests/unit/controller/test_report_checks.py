"""The report endpoint's pure checks: who a TokenReview names, which pod may report for which job, and what a report
may hold. (The endpoint itself, against the real API server and real pods: tests/integration/controller.)"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tensorone.api.reporting import MAX_REPORT_HISTORY, REPORT_AUDIENCE, TrainerReport
from tensorone.controller.pods import PodView
from tensorone.controller.reporting.directory import JobDirectory, NotAWorkerError, ReportTarget
from tensorone.controller.reporting.tokens import POD_NAME_KEY, POD_UID_KEY, PodIdentity, identity_of


def review(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "authenticated": True,
        "audiences": [REPORT_AUDIENCE],
        "user": {
            "username": "system:serviceaccount:team-a:default",
            "extra": {POD_NAME_KEY: ["job-1-worker-0"], POD_UID_KEY: ["uid-p"]},
        },
    }
    status.update(changes)
    return status


def test_a_bound_service_account_token_for_the_reporting_audience_names_its_pod() -> None:
    assert identity_of(review(), REPORT_AUDIENCE) == PodIdentity(
        "team-a", "job-1-worker-0", "uid-p", "default"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"authenticated": False},
        {"audiences": ["https://kubernetes.default.svc"]},
        {"user": {"username": "admin", "extra": {POD_NAME_KEY: ["job-1-worker-0"], POD_UID_KEY: ["u"]}}},
        {"user": {"username": "system:serviceaccount:team-a:default", "extra": {}}},  # not bound to a pod
    ],
)
def test_anything_else_is_no_reporting_identity(changes: dict[str, Any]) -> None:
    assert identity_of(review(**changes), REPORT_AUDIENCE) is None


def directory(phase: str = "running", attempts: int = 2, pod_attempt: int = 2) -> JobDirectory:
    jobs = JobDirectory()
    pods = {
        ("team-a", "job-1"): [PodView(name="job-1-worker-0", index=0, attempt=pod_attempt, phase="Running")]
    }
    jobs.track(
        ("team-a", "job-1"),
        {"metadata": {"uid": "j"}, "status": {"phase": phase, "attempts": attempts}},
        pods,
    )
    return jobs


def pod(name: str = "job-1-worker-0", namespace: str = "team-a") -> PodIdentity:
    return PodIdentity(namespace, name, "uid-p", "default")


def test_a_worker_of_the_current_attempt_reports_for_its_job() -> None:
    assert directory().resolve(pod()) == ReportTarget("team-a", "job-1", "j", 2)


@pytest.mark.parametrize(
    ("jobs", "identity"),
    [
        (directory(), pod("job-1-launcher")),  # not a worker pod
        (directory(), pod("job-2-worker-0")),  # a job this operator does not run
        (directory(), pod(namespace="team-b")),  # same name, another tenant's namespace
        (directory(phase="completed"), pod()),
        (directory(phase="queued"), pod()),
        (directory(attempts=3), pod()),  # a worker of an earlier attempt
        (directory(pod_attempt=1), pod()),
    ],
)
def test_no_other_pod_reports(jobs: JobDirectory, identity: PodIdentity) -> None:
    with pytest.raises(NotAWorkerError):
        jobs.resolve(identity)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"phase": "completed"}', "phase"),
        ('{"resourceUsage": {"cost": 0}}', "resourceUsage"),
        ('{"progress": {"currentStep": -1}}', "progress.currentStep"),
        ('{"progress": {"percentage": 101}}', "progress.percentage"),
        ('{"progress": {"percentDisplay": "100%"}}', "progress.percentDisplay"),
        ('{"metrics": {"learningRate": NaN}}', "metrics.learningRate"),
        ('{"metrics": {"bestLoss": -Infinity}}', "metrics.bestLoss"),
        ('{"metrics": {"throughput": "' + "x" * 100 + '"}}', "metrics.throughput"),
        ('{"checkpoints": [{"id": "../x", "epoch": 0, "step": 1, "createdAt": "2026-01-01T00:00:00Z",'
         ' "size": "1B", "sizeBytes": 1}]}', "checkpoints.0.id"),
        ('{"history": [' + ",".join(['{"step": 1, "time": "2026-01-01T00:00:00Z"}'] * (MAX_REPORT_HISTORY + 1))
         + "]}", "history"),
    ],
)  # fmt: skip
def test_a_report_holds_only_bounded_finite_trainer_fields(body: str, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        TrainerReport.model_validate_json(body)
    assert ".".join(str(p) for p in error.value.errors()[0]["loc"]) == field
