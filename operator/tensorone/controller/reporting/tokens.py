"""Who sent a report: the reporting token checked by a TokenReview, cached briefly by the token's hash.

A bound ServiceAccount token names its pod (``authentication.kubernetes.io/pod-name`` / ``pod-uid`` in the
review's ``user.extra``, set by kube-apiserver since bound tokens exist, 1.20 included). The review asks for the
reporting audience only, so a token made for the Kubernetes API (or any other audience) is refused here too.
Answers are kept for ``ttl`` seconds so that jobs reporting every few seconds cost one review per token per TTL,
not one per report; refusals are kept as long, so a flood of bad tokens does not become a flood of reviews.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tensorone.controller.kube import KubeClient

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
MAX_TOKEN_BYTES = 16 * 1024


@dataclass(frozen=True)
class PodIdentity:
    """The pod a valid reporting token is bound to."""

    namespace: str
    pod: str
    uid: str
    service_account: str


class TokenReviewError(Exception):
    """The API server could not answer the review (not: the token is bad)."""


class TokenReviewer:
    """``identify(token)``: the pod it is bound to, or None for a token that is not a valid reporting token."""

    def __init__(
        self, client: KubeClient, audience: str, *, ttl: float = 30.0, max_entries: int = 20_000
    ) -> None:
        self.client = client
        self.audience = audience
        self.ttl = ttl
        self.max_entries = max_entries
        self.reviews = 0
        self._cache: OrderedDict[bytes, tuple[float, PodIdentity | None]] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Future[PodIdentity | None]] = {}

    async def identify(self, token: str) -> PodIdentity | None:
        if not token or len(token) > MAX_TOKEN_BYTES:
            return None
        key = hashlib.sha256(token.encode()).digest()  # the token itself is never kept
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:  # the same token reviewed concurrently: one review serves all
            return await asyncio.shield(pending)
        future: asyncio.Future[PodIdentity | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            identity = await self._review(token)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(identity)
        self._remember(key, identity, now + self.ttl)
        return identity

    def _remember(self, key: bytes, identity: PodIdentity | None, until: float) -> None:
        self._cache[key] = (until, identity)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _review(self, token: str) -> PodIdentity | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": [self.audience]},
        }
        self.reviews += 1
        self.client.requests["POST"] += 1
        try:
            async with self.client.session.post(TOKEN_REVIEWS, json=body) as response:
                answer: Any = await response.json(content_type=None)
                code = response.status
        except (TimeoutError, OSError, ValueError) as e:
            raise TokenReviewError(f"TokenReview failed: {type(e).__name__}") from e
        if code >= 300:
            raise TokenReviewError(f"TokenReview answered HTTP {code}")
        return identity_of(answer.get("status") or {}, self.audience)


def identity_of(status: dict[str, Any], audience: str) -> PodIdentity | None:
    """The pod of an authenticated review status for ``audience``; None for anything else."""
    if not status.get("authenticated"):
        return None
    if audience not in (status.get("audiences") or []):
        return None
    user = status.get("user") or {}
    username = str(user.get("username") or "")
    if not username.startswith(_SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, _, account = username[len(_SERVICE_ACCOUNT_PREFIX) :].partition(":")
    extra = user.get("extra") or {}
    pods = extra.get(POD_NAME_KEY) or []
    uids = extra.get(POD_UID_KEY) or []
    if not namespace or len(pods) != 1 or len(uids) != 1:
        return None  # not bound to a pod: a legacy or TokenRequest-without-pod token is no worker's
    return PodIdentity(namespace=namespace, pod=str(pods[0]), uid=str(uids[0]), service_account=account)
