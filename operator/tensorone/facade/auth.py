"""API keys: stored as sha256 digests in labelled Secrets, compared in constant time, never logged.

A key belongs to one account; the account's namespace scopes every read and write. The key ring is a cache of
the Secrets, kept current by a watch, re-read in full periodically and on an unknown key (at most once a second),
so a key created with ``tensorone keys create`` works at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass

from tensorone.facade.kube import NAMESPACES, SECRETS, JsonObj, KubeClient, KubeError
from tensorone.facade.settings import (
    ACCOUNT_LABEL,
    API_KEY_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    Settings,
)

logger = logging.getLogger(__name__)
KEY_PREFIX = "t1_"
ACCOUNT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_MISS_REFRESH_INTERVAL = 1.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its namespace, and a non-secret key id (for rate limits and logs)."""

    account: str
    namespace: str
    key_id: str


def digest(key: str) -> str:
    """The stored form of a key: hex sha256."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key_digest: str) -> str:
    """A short, non-secret identifier of a key (also its Secret's name suffix)."""
    return key_digest[:12]


def parse_authorization(header: str | None) -> str | None:
    """The key from ``Bearer <key>`` or a bare ``<key>``."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if rest and scheme.lower() == "bearer":
        return rest.strip() or None
    return None if rest else scheme


def _decode(secret: JsonObj, key: str) -> str | None:
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return (secret.get("stringData") or {}).get(key)
    return base64.b64decode(value).decode()


class KeyRing:
    """sha256 digest → account, mirrored from the key Secrets."""

    def __init__(self, kube: KubeClient, settings: Settings):
        self.kube = kube
        self.settings = settings
        self._entries: dict[str, str] = {}
        self._loaded_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._resource_version: str | None = None

    def _apply(self, secret: JsonObj, deleted: bool = False) -> None:
        key_digest, account = _decode(secret, "sha256"), _decode(secret, "account")
        if not key_digest or not account:
            return
        if deleted:
            self._entries.pop(key_digest, None)
        else:
            self._entries[key_digest] = account

    async def refresh(self) -> None:
        """Re-read every key Secret."""
        try:
            listing = await self.kube.list(
                SECRETS, self.settings.keys_namespace, label_selector=f"{API_KEY_LABEL}=true"
            )
        except KubeError as e:
            if e.status != 404:
                raise
            listing = {"items": []}
        entries: dict[str, str] = {}
        self._entries = entries
        for secret in listing.get("items", []):
            self._apply(secret)
        self._resource_version = (listing.get("metadata") or {}).get("resourceVersion")
        self._loaded_at = time.monotonic()

    async def _refresh_if_stale(self, max_age: float) -> None:
        if time.monotonic() - self._loaded_at < max_age:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if time.monotonic() - self._loaded_at >= max_age:
                await self.refresh()

    def _match(self, key: str) -> tuple[str, str] | None:
        presented = digest(key)
        found: tuple[str, str] | None = None
        for stored, account in list(self._entries.items()):
            # Every entry is compared, so the time taken does not tell how close a guess came.
            if hmac.compare_digest(stored, presented):
                found = (stored, account)
        return found

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when no Secret holds its digest."""
        await self._refresh_if_stale(self.settings.key_refresh_seconds)
        found = self._match(key)
        if found is None:
            await self._refresh_if_stale(_MISS_REFRESH_INTERVAL)
            found = self._match(key)
        if found is None:
            return None
        stored, account = found
        return Principal(account, self.settings.namespace_of(account), key_id_of(stored))

    async def watch(self) -> None:
        """Follow the key Secrets until cancelled (re-listing after any interruption)."""
        while True:
            try:
                if self._resource_version is None:
                    await self.refresh()
                params = {
                    "watch": "true",
                    "labelSelector": f"{API_KEY_LABEL}=true",
                    "resourceVersion": self._resource_version or "",
                    "allowWatchBookmarks": "true",
                }
                path = SECRETS.path(self.settings.keys_namespace)
                buffer = b""
                async for chunk in self.kube.stream_lines(path, params):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            self._on_event(json.loads(line))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a broken watch is re-established after a full re-read
                logger.info("key watch interrupted (%s); re-reading keys", type(e).__name__)
                self._resource_version = None
                await asyncio.sleep(1.0)

    def _on_event(self, event: JsonObj) -> None:
        obj = event.get("object") or {}
        kind = event.get("type")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "ERROR":
            self._resource_version = None
            raise KubeError(int(obj.get("code", 410)), str(obj.get("reason", "")), "watch expired")
        if kind in ("ADDED", "MODIFIED"):
            self._apply(obj)
        elif kind == "DELETED":
            self._apply(obj, deleted=True)
        if rv:
            self._resource_version = rv


def new_key() -> str:
    """A fresh API key (shown once, stored only as its digest)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_secret(key: str, account: str, namespace: str) -> JsonObj:
    """The Secret that registers ``key`` for ``account``."""
    key_digest = digest(key)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": f"tensorone-api-key-{key_id_of(key_digest)}",
            "namespace": namespace,
            "labels": {API_KEY_LABEL: "true", ACCOUNT_LABEL: account, MANAGED_BY_LABEL: MANAGED_BY},
        },
        "data": {
            "sha256": base64.b64encode(key_digest.encode()).decode(),
            "account": base64.b64encode(account.encode()).decode(),
        },
    }


async def ensure_namespace(kube: KubeClient, name: str) -> None:
    """Create the namespace unless it exists."""

    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    with contextlib.suppress(KubeError):
        await kube.create(NAMESPACES, None, body)


async def create_key(kube: KubeClient, settings: Settings, account: str) -> str:
    """Register a new key for ``account`` (creating the key and account namespaces) and return it."""
    if not ACCOUNT_NAME.match(account):
        raise ValueError("account names are 1-40 lowercase letters, digits and '-' (a DNS label)")
    await ensure_namespace(kube, settings.keys_namespace)
    await ensure_namespace(kube, settings.namespace_of(account))
    key = new_key()
    await kube.create(SECRETS, settings.keys_namespace, key_secret(key, account, settings.keys_namespace))
    return key
