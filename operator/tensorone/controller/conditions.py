"""Condition reasons (constants, as Kubernetes controllers spell them) and the one way to set a condition."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from tensorone.api.status import Condition, ConditionStatus, ConditionType, TrainingJobStatus


class Reason(StrEnum):
    ADMITTED = "Admitted"
    INVALID_SPEC = "InvalidSpec"
    DATASET_NOT_FOUND = "DatasetNotFound"
    WAITING_FOR_DATASET = "WaitingForDataset"
    CHECKING_DATA = "CheckingData"
    FETCHING = "Fetching"
    INITIALIZED = "Initialized"
    INITIALIZATION_FAILED = "InitializationFailed"
    INVALID_DATASET = "InvalidDataset"
    INSUFFICIENT_RESOURCES = "InsufficientResources"
    CHECKPOINT_NOT_FOUND = "CheckpointNotFound"
    WORKERS_CREATED = "WorkersCreated"
    UNSCHEDULABLE = "Unschedulable"
    SCHEDULED = "Scheduled"
    WORKERS_RUNNING = "WorkersRunning"
    RETRYING = "Retrying"
    RESUMED = "Resumed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    CANCELLED = "Cancelled"
    BUDGET_EXCEEDED = "BudgetExceeded"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    DATA_ERROR = "DataError"
    CONFIGURATION_ERROR = "ConfigurationError"
    COMPLETED = "Completed"
    NO_REPORTS = "NoReports"
    REPORTING = "Reporting"


_ORDER = {
    kind: position for position, kind in enumerate(ConditionType)
}  # conditions are listed in this order


def condition(status: TrainingJobStatus, kind: ConditionType) -> Condition | None:
    return next((c for c in status.conditions if c.type == kind), None)


def set_condition(
    status: TrainingJobStatus,
    kind: ConditionType,
    value: bool,
    reason: Reason,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> None:
    """Set ``kind``; ``lastTransitionTime`` moves only when the condition's status flips."""
    new_status = ConditionStatus.TRUE if value else ConditionStatus.FALSE
    existing = condition(status, kind)
    transition = existing.last_transition_time if existing and existing.status == new_status else now
    updated = Condition(
        type=kind,
        status=new_status,
        reason=str(reason),
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    status.conditions = [c for c in status.conditions if c.type != kind] + [updated]
    status.conditions.sort(key=lambda c: _ORDER[c.type])
