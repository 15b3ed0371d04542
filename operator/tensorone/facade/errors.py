"""The edge where failures become the contract's error bodies: ``ApiError``, FastAPI's own validation errors
(always ``CONFIGURATION_ERROR`` naming the client's field, never FastAPI's 422 body), unknown routes, and
anything unexpected (``INTERNAL_ERROR`` without internals)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode, FieldProblem
from tensorone.api.rest import ErrorBody
from tensorone.api.validation import _reason, dotted
from tensorone.facade.kube import KubeError

logger = logging.getLogger(__name__)
_SOURCES = {"body", "query", "path", "header", "cookie"}


def error_response(error: ApiError) -> JSONResponse:
    headers = {}
    if error.code == ErrorCode.RATE_LIMITED:
        headers["Retry-After"] = str(error.details.get("retryAfter", 1))
    return JSONResponse(error.to_body(), status_code=error.http_status, headers=headers)


def validation_problems(errors: list[Any]) -> list[FieldProblem]:
    """FastAPI's validation errors as field problems with the client's path (``limit``, ``config.x``)."""
    problems = []
    for item in errors:
        loc = tuple(item.get("loc", ()))
        source = loc[0] if loc and loc[0] in _SOURCES else "body"
        rest = loc[1:] if loc and loc[0] in _SOURCES else loc
        if item.get("type") == "json_invalid":
            rest = ()
        problems.append(FieldProblem(dotted(rest) or str(source), _reason(item)))
    return problems or [FieldProblem("body", "invalid request")]


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ConfigurationError(validation_problems(list(exc.errors()))))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        body = {"error": "METHOD_NOT_ALLOWED", "message": "Method not allowed on this path"}
        return JSONResponse(body, status_code=405, headers=dict(exc.headers or {}))
    if exc.status_code == 404:
        return error_response(ApiError(ErrorCode.NOT_FOUND, "No such endpoint"))
    body = {"error": "HTTP_ERROR", "message": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))


async def _kube_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("cluster API error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(ApiError(ErrorCode.INTERNAL_ERROR, "The cluster API refused the operation"))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(ApiError(ErrorCode.INTERNAL_ERROR))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(KubeError, _kube_error)
    app.add_exception_handler(Exception, _unexpected)


def _responses(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status = ApiError(code).http_status
        described = [out.get(status, {}).get("description", ""), str(code)]
        out[status] = {
            "model": ErrorBody,
            "description": " / ".join(c for c in described if c),
            # Errors are JSON even on routes whose success is text (logs).
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    return out


# What any route may answer: authentication and rate limits, and a body refused before the route runs.
AUTH_ERRORS = (
    ErrorCode.UNAUTHORIZED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.CONFIGURATION_ERROR,
    ErrorCode.PAYLOAD_TOO_LARGE,
)


def documented(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the error body under every status it may answer with."""
    return _responses(*AUTH_ERRORS, *codes)
