"""One exception class per API error code; each carries ``error``, ``message``, ``details`` and the HTTP status."""

from __future__ import annotations

from typing import Any

from tensorone.api.errors import ErrorCode


class TensorOneError(Exception):
    """An error answered by the API (or no answer at all: ``error == "CONNECTION_ERROR"``)."""

    def __init__(self, error: str, message: str, details: dict[str, Any] | None = None, status_code: int = 0):
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.status_code = status_code


class ConfigurationError(TensorOneError):
    @property
    def field(self) -> str | None:
        value = self.details.get("field")
        return str(value) if value is not None else None


class PayloadTooLargeError(ConfigurationError):
    """413: the request body is over the server's limit (``details.limit`` bytes)."""


class UnauthorizedError(TensorOneError): ...


class NotFoundError(TensorOneError): ...


class JobNotFoundError(NotFoundError): ...


class DatasetNotFoundError(NotFoundError): ...


class CheckpointNotFoundError(NotFoundError): ...


class ArtifactNotFoundError(NotFoundError): ...


class InvalidStateError(TensorOneError): ...


class InsufficientResourcesError(TensorOneError): ...


class RateLimitedError(TensorOneError):
    @property
    def retry_after(self) -> float:
        return float(self.details.get("retryAfter", 1))


class QuotaExceededError(TensorOneError): ...


class ServerError(TensorOneError): ...


class APIConnectionError(TensorOneError): ...


ERRORS: dict[str, type[TensorOneError]] = {
    ErrorCode.CONFIGURATION_ERROR: ConfigurationError,
    ErrorCode.PAYLOAD_TOO_LARGE: PayloadTooLargeError,
    ErrorCode.UNAUTHORIZED: UnauthorizedError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.JOB_NOT_FOUND: JobNotFoundError,
    ErrorCode.DATASET_NOT_FOUND: DatasetNotFoundError,
    ErrorCode.CHECKPOINT_NOT_FOUND: CheckpointNotFoundError,
    ErrorCode.ARTIFACT_NOT_FOUND: ArtifactNotFoundError,
    ErrorCode.INVALID_STATE: InvalidStateError,
    ErrorCode.INSUFFICIENT_RESOURCES: InsufficientResourcesError,
    ErrorCode.RATE_LIMITED: RateLimitedError,
    ErrorCode.QUOTA_EXCEEDED: QuotaExceededError,
    ErrorCode.INTERNAL_ERROR: ServerError,
}


def from_response(status_code: int, body: Any) -> TensorOneError:
    """The typed exception for an error answer."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        cls = ERRORS.get(code, ServerError if status_code >= 500 else TensorOneError)
        return cls(code, str(body.get("message", "")), body.get("details") or {}, status_code)
    cls = ServerError if status_code >= 500 else TensorOneError
    return cls(f"HTTP_{status_code}", str(body)[:500], {}, status_code)
