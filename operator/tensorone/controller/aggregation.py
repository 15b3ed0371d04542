"""Status aggregation (pure): the job's spec and status plus its worker pods → the status it should have and
what to do to the pods.

Handlers only orchestrate: they read the pods, call :func:`decide`, apply the decision's actions and patch the
status when it changed. Every rule of the job's life (admission aside) lives here and is tested without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tensorone.api.spec import AnyJobSpec
from tensorone.api.status import (
    FINISHED_PHASES,
    RESUMABLE_PHASES,
    ConditionStatus,
    ConditionType,
    JobError,
    JobPhase,
    TrainingJobStatus,
)
from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tensorone.controller.conditions import Reason, condition, set_condition
from tensorone.controller.failures import describe_worker_failure, meaningful_lines
from tensorone.controller.pods import PodView
from tensorone.controller.usage import accrue, seconds_until_budget

# Grace period when no checkpoint is wanted: the trainer should not spend it writing one.
QUICK_GRACE_SECONDS = 1


@dataclass(frozen=True)
class JobView:
    """The parsed TrainingJob."""

    name: str
    generation: int
    spec: AnyJobSpec
    status: TrainingJobStatus


UNSCHEDULABLE_GRACE_SECONDS = 5.0
"""A worker unschedulable for less than this is not told in the status yet: the scheduler's first try often fails
for a moment only (the checkpoint claim made with the pod is not bound yet), and telling it cost every job a status
write and showed its user an Unschedulable that was none."""


@dataclass(frozen=True)
class Timing:
    """Operator settings the rules depend on."""

    stall_window_seconds: float
    termination_grace_period_seconds: int
    usage_flush_seconds: float
    resync_seconds: float


@dataclass(frozen=True)
class JobEvent:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class PhaseChange:
    """A job entering a phase or a new attempt, and why: one line of the operator's log per transition."""

    before: JobPhase
    after: JobPhase
    attempt: int
    reason: str
    message: str


@dataclass
class Decision:
    """The status the job should have and the actions that get it there."""

    status: TrainingJobStatus
    create_workers: bool = False
    delete_pods: list[str] = field(default_factory=list)
    delete_grace_seconds: int | None = None
    archive_attempt: int | None = None
    remove_children: bool = False
    events: list[JobEvent] = field(default_factory=list)
    requeue_after: float | None = None
    restarted_workers: int = 0
    transition: PhaseChange | None = None
    cause: tuple[str, str] = ("", "")

    def wake_in(self, seconds: float | None) -> None:
        if seconds is not None:
            seconds = max(seconds, 0.5)
            self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)

    def event(self, reason: Reason | str, message: str, warning: bool = False) -> None:
        self.events.append(JobEvent("Warning" if warning else "Normal", str(reason), message))

    def enter(self, phase: JobPhase, reason: Reason, message: str) -> None:
        self.status.phase = phase
        self.cause = (str(reason), message)


def latest_checkpoint(status: TrainingJobStatus) -> str | None:
    if not status.checkpoints:
        return None
    return max(status.checkpoints, key=lambda c: (c.created_at, c.step)).id


def decide(
    job: JobView, pods: Sequence[PodView], now: datetime, timing: Timing, price_per_gpu_hour: float
) -> Decision:
    """What to do next for an admitted job (see the module docstring)."""
    # A shallow copy: the rules replace the status's fields and lists, never change a nested one in place (a deep copy
    # of the whole status on every pass was the most expensive step of a pass).
    status = job.status.model_copy(
        update={"conditions": list(job.status.conditions), "checkpoints": list(job.status.checkpoints)}
    )
    spec = job.spec
    training_seconds = status.progress.elapsed_time if status.progress else None
    status.resource_usage = accrue(
        status.resource_usage,
        pods,
        now,
        price_per_gpu_hour,
        training_seconds,
        spec.gpus_per_worker * spec.max_workers,
    )
    decision = Decision(status=status)
    current = [p for p in pods if p.attempt == status.attempts]
    stale = [p for p in pods if p.attempt != status.attempts]
    _drop(decision, [p for p in stale if not p.deleting], timing.termination_grace_period_seconds)
    phase = status.phase or JobPhase.PENDING

    if phase in FINISHED_PHASES:
        if phase in RESUMABLE_PHASES and not spec.suspend and job.generation != status.observed_generation:
            _resume(decision, job, current, now)
        else:
            _finished(decision, job, current, now)
        return _with_phase_event(decision, job, phase)

    stop = _stop_reason(job, status, now)
    if stop is not None or phase == JobPhase.STOPPING:
        reason, message = stop or _stopping_reason(status)
        _stop(decision, job, current, now, reason, message, timing)
        return _with_phase_event(decision, job, phase)

    broken = [p for p in current if p.failed]
    fatal = [p for p in broken if not p.retryable]
    lost = phase == JobPhase.RUNNING and len(current) < spec.max_workers and not stale
    if fatal:
        pod = min(fatal, key=lambda p: p.index)
        reason = Reason.DATA_ERROR if pod.exit_code == EXIT_DATA_ERROR else Reason.CONFIGURATION_ERROR
        _fail(
            decision, job, current, now, reason, meaningful_lines(pod.message) or describe_worker_failure(pod)
        )
    elif broken or lost:
        _retry(decision, job, current, broken, now, timing)
    elif len(current) == spec.max_workers and all(p.phase == "Succeeded" for p in current):
        _complete(decision, job, current, now)
    else:
        _progress(decision, job, current, stale, now, timing, price_per_gpu_hour)
    return _with_phase_event(decision, job, phase)


def _drop(decision: Decision, pods: Sequence[PodView], grace: int) -> None:
    names = [p.name for p in pods if p.name not in decision.delete_pods]
    if names:
        decision.delete_pods.extend(names)
        if decision.delete_grace_seconds is None:
            decision.delete_grace_seconds = grace


def _archive_and_drop(decision: Decision, current: Sequence[PodView], grace: int) -> None:
    """Keep the attempt's logs, then delete its pods that are not already going."""
    alive = [p for p in current if not p.deleting]
    if alive:
        decision.archive_attempt = decision.status.attempts
        _drop(decision, alive, grace)


def _stop_reason(job: JobView, status: TrainingJobStatus, now: datetime) -> tuple[Reason, str] | None:
    spec = job.spec
    usage = status.resource_usage
    if spec.suspend:
        return (Reason.STOPPING, "stop requested (spec.suspend)")
    if spec.max_cost is not None and usage is not None and usage.cost >= spec.max_cost:
        return (Reason.BUDGET_EXCEEDED, f"cost {usage.cost:.2f} reached maxCost {spec.max_cost:.2f}")
    return None


def _stopping_reason(status: TrainingJobStatus) -> tuple[Reason, str]:
    existing = condition(status, ConditionType.SUSPENDED)
    if existing is not None and existing.reason == Reason.BUDGET_EXCEEDED:
        return (Reason.BUDGET_EXCEEDED, existing.message)
    return (Reason.STOPPING, "stop requested")


def _deadline_passed(job: JobView, status: TrainingJobStatus, now: datetime) -> float | None:
    """Seconds past the active deadline (negative: still to go), None without deadline or start."""
    deadline = job.spec.run_policy.active_deadline_seconds
    if deadline is None or status.started_at is None:
        return None
    return (now - status.started_at).total_seconds() - deadline


def _stop(
    decision: Decision,
    job: JobView,
    current: Sequence[PodView],
    now: datetime,
    reason: Reason,
    message: str,
    timing: Timing,
) -> None:
    status = decision.status
    checkpoint = job.spec.save_checkpoint_on_stop or reason == Reason.BUDGET_EXCEEDED
    grace = timing.termination_grace_period_seconds if checkpoint else QUICK_GRACE_SECONDS
    alive = [p for p in current if not p.terminated]
    if alive:
        decision.enter(JobPhase.STOPPING, reason, message)
        set_condition(status, ConditionType.SUSPENDED, True, reason, message, now, job.generation)
        _archive_and_drop(decision, alive, grace)
        decision.wake_in(grace + 1)
        return
    _archive_and_drop(decision, current, grace)
    status.completed_at = now
    status.observed_generation = job.generation
    done = Reason.STOPPED if checkpoint else Reason.CANCELLED
    suspended_reason = Reason.BUDGET_EXCEEDED if reason == Reason.BUDGET_EXCEEDED else done
    decision.enter(JobPhase.STOPPED if checkpoint else JobPhase.CANCELLED, suspended_reason, message)
    set_condition(status, ConditionType.SUSPENDED, True, suspended_reason, message, now, job.generation)
    set_condition(status, ConditionType.RUNNING, False, done, "workers stopped", now, job.generation)


def _fail(
    decision: Decision, job: JobView, current: Sequence[PodView], now: datetime, reason: Reason, message: str
) -> None:
    status = decision.status
    decision.enter(JobPhase.FAILED, reason, message)
    status.completed_at = now
    status.observed_generation = job.generation
    status.error = JobError(reason=str(reason), message=message)
    set_condition(status, ConditionType.FAILED, True, reason, message, now, job.generation)
    set_condition(status, ConditionType.RUNNING, False, reason, message, now, job.generation)
    _archive_and_drop(decision, current, QUICK_GRACE_SECONDS)


def _retry(
    decision: Decision,
    job: JobView,
    current: Sequence[PodView],
    broken: Sequence[PodView],
    now: datetime,
    timing: Timing,
) -> None:
    status = decision.status
    described = _describe_failures(broken)
    # Only failures count: attempts started by a user's resume do not use up the retries.
    status.failed_attempts += 1
    if status.failed_attempts > job.spec.run_policy.backoff_limit:
        _fail(
            decision,
            job,
            current,
            now,
            Reason.BACKOFF_LIMIT_EXCEEDED,
            f"{described}; backoffLimit {job.spec.run_policy.backoff_limit} reached",
        )
        return
    _archive_and_drop(decision, current, timing.termination_grace_period_seconds)
    decision.restarted_workers = len(broken)
    resume = latest_checkpoint(status)
    status.attempts += 1
    status.resumed_from = resume
    message = f"{described}; attempt {status.attempts} resumes from {resume or 'the start'}"
    decision.enter(JobPhase.PENDING, Reason.RETRYING, message)
    set_condition(status, ConditionType.RUNNING, False, Reason.RETRYING, message, now, job.generation)
    decision.event(Reason.RETRYING, message, warning=True)


def _describe_failures(broken: Sequence[PodView]) -> str:
    """The first worker to fail, with its cause (the others usually fail because it did)."""
    if not broken:
        return "a worker disappeared (node lost)"
    first = min(broken, key=lambda p: (p.finished_at is None, p.finished_at or datetime.max, p.index))
    others = f" (and {len(broken) - 1} more worker(s))" if len(broken) > 1 else ""
    return describe_worker_failure(first) + others


def _resume(decision: Decision, job: JobView, current: Sequence[PodView], now: datetime) -> None:
    status = decision.status
    wanted = job.spec.resume_from
    known = {c.id for c in status.checkpoints}
    if wanted is not None and wanted not in known:
        message = f"checkpoint {wanted!r} does not exist; known: {', '.join(sorted(known)) or 'none'}"
        status.observed_generation = job.generation
        set_condition(
            status, ConditionType.SUSPENDED, True, Reason.CHECKPOINT_NOT_FOUND, message, now, job.generation
        )
        decision.event(Reason.CHECKPOINT_NOT_FOUND, message, warning=True)
        return
    resume = wanted or latest_checkpoint(status)
    status.attempts += 1
    # A resume is the user's new start: it gets the full backoffLimit of retries again.
    status.failed_attempts = 0
    status.resumed_from = resume
    status.completed_at = None
    status.error = None
    status.observed_generation = job.generation
    status.conditions = [
        c for c in status.conditions if c.type not in (ConditionType.FAILED, ConditionType.STALLED)
    ]
    message = f"attempt {status.attempts} resumes from {resume or 'the start'}"
    decision.enter(JobPhase.PENDING, Reason.RESUMED, message)
    set_condition(status, ConditionType.SUSPENDED, False, Reason.RESUMED, message, now, job.generation)
    decision.event(Reason.RESUMED, message)


def _finished(decision: Decision, job: JobView, current: Sequence[PodView], now: datetime) -> None:
    status = decision.status
    _archive_and_drop(decision, current, QUICK_GRACE_SECONDS)
    ttl = job.spec.run_policy.ttl_seconds_after_finished
    if ttl is not None and status.completed_at is not None:
        left = (status.completed_at + timedelta(seconds=ttl) - now).total_seconds()
        if left <= 0:
            decision.remove_children = True
        else:
            decision.wake_in(left)


def _complete(decision: Decision, job: JobView, current: Sequence[PodView], now: datetime) -> None:
    status = decision.status
    decision.enter(JobPhase.COMPLETED, Reason.COMPLETED, "all workers succeeded")
    status.completed_at = now
    status.observed_generation = job.generation
    set_condition(
        status, ConditionType.SUCCEEDED, True, Reason.COMPLETED, "all workers succeeded", now, job.generation
    )
    set_condition(
        status, ConditionType.RUNNING, False, Reason.COMPLETED, "all workers succeeded", now, job.generation
    )
    _archive_and_drop(decision, current, QUICK_GRACE_SECONDS)


def _progress(
    decision: Decision,
    job: JobView,
    current: Sequence[PodView],
    stale: Sequence[PodView],
    now: datetime,
    timing: Timing,
    price: float,
) -> None:
    status = decision.status
    spec = job.spec
    past = _deadline_passed(job, status, now)
    if past is not None and past >= 0:
        deadline = spec.run_policy.active_deadline_seconds
        _fail(
            decision, job, current, now, Reason.DEADLINE_EXCEEDED, f"activeDeadlineSeconds {deadline} reached"
        )
        return
    if past is not None:
        decision.wake_in(-past)
    decision.create_workers = len(current) < spec.max_workers and not stale
    unschedulable = []
    for p in current:
        if p.unschedulable:
            waited = UNSCHEDULABLE_GRACE_SECONDS
            if p.unschedulable_since is not None:
                waited = (now - p.unschedulable_since).total_seconds()
            if waited >= UNSCHEDULABLE_GRACE_SECONDS:
                unschedulable.append(p)
            else:
                decision.wake_in(UNSCHEDULABLE_GRACE_SECONDS - waited)
    if unschedulable:
        set_condition(
            status,
            ConditionType.SCHEDULED,
            False,
            Reason.UNSCHEDULABLE,
            unschedulable[0].unschedulable or "",
            now,
            job.generation,
        )
    elif current and all(p.running for p in current) and len(current) == spec.max_workers:
        set_condition(
            status, ConditionType.SCHEDULED, True, Reason.SCHEDULED, "all workers placed", now, job.generation
        )
        if status.phase != JobPhase.RUNNING:
            message = f"{spec.max_workers} worker(s) running, attempt {status.attempts}"
            decision.enter(JobPhase.RUNNING, Reason.WORKERS_RUNNING, message)
            status.started_at = status.started_at or now
            set_condition(
                status, ConditionType.RUNNING, True, Reason.WORKERS_RUNNING, message, now, job.generation
            )
            if past is None and spec.run_policy.active_deadline_seconds is not None:
                decision.wake_in(spec.run_policy.active_deadline_seconds)
        _check_stall(decision, job, current, now, timing)
    if spec.max_cost is not None and status.resource_usage is not None:
        decision.wake_in(seconds_until_budget(status.resource_usage, current, price, spec.max_cost))
    if any(p.running for p in current):
        decision.wake_in(timing.usage_flush_seconds)


def _check_stall(
    decision: Decision, job: JobView, current: Sequence[PodView], now: datetime, timing: Timing
) -> None:
    status = decision.status
    started = [p.running_since for p in current if p.running_since is not None]
    marks = [t for t in (status.last_report_time, max(started) if started else None) if t is not None]
    if not marks:
        return
    silent = (now - max(marks)).total_seconds()
    window = timing.stall_window_seconds
    if silent > window:
        message = f"no progress report for {silent:.0f}s (window {window:g}s)"
        was = condition(status, ConditionType.STALLED)
        set_condition(status, ConditionType.STALLED, True, Reason.NO_REPORTS, message, now, job.generation)
        if was is None or was.status != ConditionStatus.TRUE:
            decision.event(Reason.NO_REPORTS, message, warning=True)
        decision.wake_in(window)
    else:
        existing = condition(status, ConditionType.STALLED)
        if existing is not None and existing.status == ConditionStatus.TRUE:
            set_condition(
                status, ConditionType.STALLED, False, Reason.REPORTING, "reports resumed", now, job.generation
            )
        decision.wake_in(window - silent + 0.1)


def _with_phase_event(decision: Decision, job: JobView, before: JobPhase) -> Decision:
    after = decision.status.phase or JobPhase.PENDING
    attempt = decision.status.attempts
    if after != before or attempt != job.status.attempts:
        reason, message = decision.cause
        decision.transition = PhaseChange(before, after, attempt, reason or str(after).capitalize(), message)
    if after != before:
        warning = after == JobPhase.FAILED
        detail = decision.status.error.message if warning and decision.status.error else f"{before} → {after}"
        decision.event(str(after).capitalize(), detail, warning=warning)
    return decision
