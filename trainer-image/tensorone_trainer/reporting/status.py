"""The cluster sink: merge-patches the TrainingJob's status subresource from a background thread.

Rank 0 runs under a ServiceAccount allowed to ``patch`` only this job's ``status``; the patch holds only the
trainer's fields (``TRAINER_STATUS_FIELDS``). Training never waits on the API: the loop hands over the newest
snapshot and returns, the thread ships at most one patch per interval (the newest wins), retries conflicts,
throttling and server errors with backoff, and logs — never raises — when the API server is away.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tensorone.api.trainer_config import StatusTarget
from tensorone_trainer.reporting.base import StatusSnapshot

log = logging.getLogger(__name__)

GROUP_VERSION = "training.tensorone.ai/v1"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})


def status_path(target: StatusTarget) -> str:
    return f"/apis/{GROUP_VERSION}/namespaces/{target.namespace}/trainingjobs/{target.name}/status"


class ApiConnection:
    """Where the API server is and how to authenticate: in-cluster ServiceAccount, else a kubeconfig."""

    def __init__(self, base_url: str, verify: ssl.SSLContext | bool, token: Callable[[], str | None]) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.token = token

    @classmethod
    def in_cluster(cls) -> ApiConnection:
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = SERVICE_ACCOUNT_DIR / "token"
        context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
        # Projected tokens rotate: read the file for every request.
        return cls(f"https://{host}:{port}", context, lambda: token_file.read_text(encoding="utf-8").strip())

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> ApiConnection:
        from kubernetes import client, config

        configuration = client.Configuration()
        load: Any = config.load_kube_config
        load(config_file=path, client_configuration=configuration)
        verify: ssl.SSLContext | bool = False
        if configuration.verify_ssl:
            verify = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                verify.load_cert_chain(configuration.cert_file, configuration.key_file)
        header = (configuration.api_key or {}).get("authorization")
        token = header.split(" ", 1)[1] if header and " " in header else header
        return cls(configuration.host, verify, lambda: token)

    @classmethod
    def from_environment(cls) -> ApiConnection:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT_DIR / "token").is_file():
            return cls.in_cluster()
        return cls.from_kubeconfig(os.environ.get("KUBECONFIG"))


class StatusSink:
    """Ships the newest snapshot as a merge patch, at most once per ``interval`` seconds."""

    def __init__(
        self, connection: ApiConnection, target: StatusTarget, *, interval: float, max_tries: int = 4
    ) -> None:
        self.connection = connection
        self.url = connection.base_url + status_path(target)
        self.interval = interval
        self.max_tries = max_tries
        self._pending: StatusSnapshot | dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._last_sent = 0.0
        self.patches_sent = 0
        self._client = httpx.Client(verify=connection.verify, timeout=10.0)
        self._thread = threading.Thread(target=self._run, name="status-sink", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(cls, target: StatusTarget, *, interval: float) -> StatusSink:
        return cls(ApiConnection.from_environment(), target, interval=interval)

    def publish(self, snapshot: StatusSnapshot) -> None:
        with self._lock:
            self._pending = snapshot  # serialised by the thread, only when it is sent
        self._wake.set()

    def close(self, timeout: float = 15.0) -> None:
        """Ship the last snapshot now (ignoring the interval) and stop the thread."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if not self._closing:
                pause = self._last_sent + self.interval - time.monotonic()
                if pause > 0:
                    # Sleep out the interval, but wake early for close() so the final report is not late.
                    deadline = time.monotonic() + pause
                    while not self._closing and time.monotonic() < deadline:
                        time.sleep(min(0.05, pause))
            with self._lock:
                pending, self._pending = self._pending, None
                self._wake.clear()
            body: dict[str, Any] | None = None
            if isinstance(pending, StatusSnapshot):
                # A patch of the status subresource has the object's shape: the fields go under "status".
                body = {"status": pending.to_status_patch()}
            elif pending is not None:
                body = pending
            if body is not None:
                self._last_sent = time.monotonic()
                if not self._send(body):
                    with self._lock:
                        if self._pending is None and not self._closing:
                            self._pending = body  # try again with the next round unless a newer one came
                            self._wake.set()
            if self._closing:
                with self._lock:
                    if self._pending is None:
                        return

    def _send(self, body: dict[str, Any]) -> bool:
        delay = 0.2
        for attempt in range(1, self.max_tries + 1):
            headers = {"Content-Type": "application/merge-patch+json"}
            token = self.connection.token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._client.patch(self.url, json=body, headers=headers)
            except httpx.HTTPError as e:
                log.warning("status patch failed (try %d): %s", attempt, e)
            else:
                if response.status_code < 300:
                    self.patches_sent += 1
                    return True
                if response.status_code not in _RETRYABLE:
                    log.warning("status patch refused: %d %s", response.status_code, response.text[:300])
                    return False
                log.info("status patch got %d (try %d); retrying", response.status_code, attempt)
            if attempt < self.max_tries and not self._closing:
                time.sleep(delay)
                delay *= 2
        return False
