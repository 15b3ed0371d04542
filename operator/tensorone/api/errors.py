"""API error codes and the one exception type that carries them to every edge (REST, CLI, operator).

The codes, HTTP statuses and ``details`` keys are those of the v2 REST contract (shared/API.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Error codes of the v2 API."""

    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    INSUFFICIENT_RESOURCES = "INSUFFICIENT_RESOURCES"
    UNAUTHORIZED = "UNAUTHORIZED"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    CHECKPOINT_NOT_FOUND = "CHECKPOINT_NOT_FOUND"
    ARTIFACT_NOT_FOUND = "ARTIFACT_NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL_ERROR = "INTERNAL_ERROR"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.CONFIGURATION_ERROR: 400,
    ErrorCode.DATASET_NOT_FOUND: 404,
    ErrorCode.INSUFFICIENT_RESOURCES: 409,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CHECKPOINT_NOT_FOUND: 404,
    ErrorCode.ARTIFACT_NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INTERNAL_ERROR: 500,
}

DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.CONFIGURATION_ERROR: "Invalid training configuration",
    ErrorCode.DATASET_NOT_FOUND: "Dataset not found",
    ErrorCode.INSUFFICIENT_RESOURCES: "The requested GPU resources are not available in this cluster",
    ErrorCode.UNAUTHORIZED: "Missing or invalid API key",
    ErrorCode.JOB_NOT_FOUND: "Training job not found",
    ErrorCode.INVALID_STATE: "The job is not in a state that allows this operation",
    ErrorCode.CHECKPOINT_NOT_FOUND: "Checkpoint not found",
    ErrorCode.ARTIFACT_NOT_FOUND: "The job has no artifact of that name",
    ErrorCode.RATE_LIMITED: "Too many requests",
    ErrorCode.QUOTA_EXCEEDED: "Account quota exceeded",
    ErrorCode.PAYLOAD_TOO_LARGE: "Request body too large",
    ErrorCode.NOT_FOUND: "Not found",
    ErrorCode.INTERNAL_ERROR: "Internal error",
}


class ApiError(Exception):
    """An error of the v2 API: a code, a human message and the code's ``details``."""

    def __init__(self, code: ErrorCode, message: str | None = None, details: dict[str, Any] | None = None):
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        self.details: dict[str, Any] = details or {}
        super().__init__(
            f"{code}: {self.message} {self.details}" if self.details else f"{code}: {self.message}"
        )

    @property
    def http_status(self) -> int:
        """The HTTP status the REST facade answers with."""
        return HTTP_STATUS[self.code]

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of API.md."""
        body: dict[str, Any] = {"error": str(self.code), "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class FieldProblem:
    """One invalid field: the dotted path as the client sent it, and why it is invalid."""

    __slots__ = ("field", "reason")

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}

    def __repr__(self) -> str:
        return f"FieldProblem({self.field!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldProblem) and (self.field, self.reason) == (other.field, other.reason)

    def __hash__(self) -> int:
        return hash((self.field, self.reason))


class ConfigurationError(ApiError):
    """One refusal of invalid input: the first problem in ``details``, all of them in ``details.errors``."""

    def __init__(self, problems: list[FieldProblem], message: str | None = None):
        if not problems:
            raise ValueError("a ConfigurationError needs at least one field problem")
        self.problems = problems
        first = problems[0]
        details: dict[str, Any] = {"field": first.field, "reason": first.reason}
        if len(problems) > 1:
            details["errors"] = [p.as_dict() for p in problems]
        super().__init__(ErrorCode.CONFIGURATION_ERROR, message, details)

    @classmethod
    def single(cls, field: str, reason: str) -> ConfigurationError:
        return cls([FieldProblem(field, reason)])

    @property
    def field(self) -> str:
        return self.problems[0].field

    @property
    def reason(self) -> str:
        return self.problems[0].reason
