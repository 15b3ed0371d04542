"""Limits that protect the platform from one client: request rates (per API key, and per client address before
authentication) and request bodies (size, and strict JSON within limits).

The per-account caps on concurrent jobs and GPUs live with job creation (``routers.jobs``), where the account's
jobs are at hand.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode
from tensorone.api.json_input import parse_json


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per subject (an API key, a client address): ``rate`` requests/s sustained, ``burst`` at once."""

    # Buckets beyond this many are pruned of those idle long enough to be full again (addresses are unbounded).
    MAX_BUCKETS = 10_000

    def __init__(self, rate: float, burst: int, subject: str = "this API key"):
        self.rate = rate
        self.burst = burst
        self.subject = subject
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        refill = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]

    def _refusal(self, bucket: _Bucket) -> ApiError:
        retry_after = max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
        return ApiError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests from {self.subject}; retry in {retry_after} s",
            {"retryAfter": retry_after},
        )

    def check(self, key: str) -> None:
        """Take one token for ``key``; raises ``RATE_LIMITED`` with ``retryAfter`` when none is left."""
        bucket = self._bucket(key)
        if bucket.tokens < 1.0:
            raise self._refusal(bucket)
        bucket.tokens -= 1.0

    def ensure_available(self, key: str) -> None:
        """Raise ``RATE_LIMITED`` when ``key`` has no token left, without taking one."""
        bucket = self._bucket(key)
        if bucket.tokens < 1.0:
            raise self._refusal(bucket)


class ClientRateLimit:
    """ASGI middleware limiting each client address on the API's routes before anything else runs (no body read,
    no key looked up): all its requests (``requests``), and — without taking a token — whether its failed
    authentications (``failures``, charged by ``deps.authenticate``) have run out. Health and metrics routes are
    not limited (probes and scrapers)."""

    def __init__(self, app: ASGIApp, requests: RateLimiter, failures: RateLimiter, prefix: str = "/v2/"):
        self.app = app
        self.requests = requests
        self.failures = failures
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            client = client_address(scope)
            try:
                self.requests.check(client)
                self.failures.ensure_available(client)
            except ApiError as e:
                await _respond(send, e)
                return
        await self.app(scope, receive, send)


def client_address(scope: Scope) -> str:
    """The peer's address (with uvicorn's ``--proxy-headers``, the client's as a trusted proxy forwarded it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RequestBodyGuard:
    """ASGI middleware that reads a request's whole body before the app sees it, refusing with the contract's error
    body: over ``max_bytes`` (by Content-Length, or counted while a chunked body streams in) ``413
    PAYLOAD_TOO_LARGE``; not strict JSON within ``json_input``'s limits ``400 CONFIGURATION_ERROR``. Nothing
    behind it runs for a refused request, so nothing is created."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _respond(send, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _respond(send, self._too_large())
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body.strip():
            try:
                parse_json(body)
            except ConfigurationError as e:
                # Before any route: the message names the body, not a training configuration (datasets too).
                await _respond(send, ConfigurationError(e.problems, "Invalid request body"))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> ApiError:
        return ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            details={
                "field": "body",
                "reason": f"request bodies are limited to {self.max_bytes} bytes",
                "limit": self.max_bytes,
            },
        )


async def _respond(send: Send, error: ApiError) -> None:
    body = json.dumps(error.to_body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.code == ErrorCode.RATE_LIMITED:
        headers.append((b"retry-after", str(error.details.get("retryAfter", 1)).encode()))
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
