"""Kubernetes ``Status`` errors, worded as the real API server words them, so clients react the same way."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An API failure rendered as a ``kind: Status`` body with the matching HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        """Render the error as the Status object the real server returns."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 for a missing object: ``pods "x" not found``."""
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(plural, group)} "{name}" not found',
        {"name": name, "group": group, "kind": plural},
    )


def resource_not_found(path: str) -> ApiError:
    """404 for an unknown resource or endpoint."""
    return ApiError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]},
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 when creating an object whose name is taken."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": plural},
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    """409 when a write carries a stale resourceVersion."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": the object has been modified;'
        " please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": plural},
    )


def precondition_failed(
    plural: str, group: str, name: str, what: str, expected: str, actual: str
) -> ApiError:
    """409 for a failed DeleteOptions precondition (uid or resourceVersion)."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": Precondition failed:'
        f" {what} in precondition: {expected}, {what} in object meta: {actual}",
        {"name": name, "group": group, "kind": plural},
    )


def bad_request(message: str) -> ApiError:
    """400 for a malformed request."""
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    """410 when a watch asks for a resourceVersion that has been compacted away."""
    return ApiError(410, "Expired", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 for verbs a resource does not support."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """415 for a patch type the resource does not accept."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})",
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 with one cause per offending field, worded like the real server's field errors."""
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {joined}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )


def forbidden_namespace_terminating(plural: str, group: str, name: str, namespace: str) -> ApiError:
    """403 when creating inside a namespace that is being deleted."""
    return ApiError(
        403,
        "Forbidden",
        f'{_qualified(plural, group)} "{name}" is forbidden: unable to create new content in namespace'
        f" {namespace} because it is being terminated",
        {"name": name, "group": group, "kind": plural},
    )
