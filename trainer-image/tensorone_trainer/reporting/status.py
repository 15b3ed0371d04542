"""The status sink: POSTs the trainer's part of the status to the operator's report endpoint from a thread.

Workers hold no Kubernetes API credential (:mod:`tensorone.api.reporting`): rank 0 sends each report to
``$TENSORONE_REPORT_URL``, in a worker pod its reporting relay (:mod:`tensorone_trainer.relay`), which adds the pod's
reporting token that user code in this container cannot read; a token file, where one is given, is sent itself
(read anew for every request: the kubelet rotates it). The operator validates each report and writes the status. Training never waits on the endpoint: the loop
hands over the newest snapshot and returns, the thread ships at most one report per interval (the newest wins),
retries throttling, server errors and connection trouble with backoff, and logs — never raises — when the
operator is away or refuses a report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tensorone.api.reporting import REPORT_TOKEN_ENV, REPORT_TOKEN_PATH, REPORT_URL_ENV
from tensorone_trainer.reporting.base import StatusSnapshot

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({429, 500, 502, 503, 504})


class ReportingOffError(Exception):
    """No report endpoint is configured for this worker."""


def report_body(snapshot: StatusSnapshot) -> dict[str, Any]:
    """The report (:class:`tensorone.api.reporting.TrainerReport`): the trainer-owned status fields, without the
    display fields the server computes itself."""
    body: dict[str, Any] = {
        "progress": snapshot.progress.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_computed_fields=True
        ),
        "metrics": snapshot.metrics.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_computed_fields=True
        ),
        **({"optimizations": snapshot.optimizations.to_wire()} if snapshot.optimizations else {}),
        "checkpoints": [c.to_wire() for c in snapshot.checkpoints],
        "history": [p.to_wire() for p in snapshot.history],
        "artifacts": [a.to_wire() for a in snapshot.artifacts],
        "lastReportTime": snapshot.last_report_time.isoformat(),
    }
    if snapshot.final:
        body["final"] = (
            True  # the endpoint writes it before answering: the status has it before this process ends
        )
    return body


def token_reader(path: str | Path) -> Callable[[], str | None]:
    def read() -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    return read


class StatusSink:
    """Ships the newest snapshot to the report endpoint, at most once per ``interval`` seconds."""

    def __init__(
        self, url: str, token: Callable[[], str | None], *, interval: float, max_tries: int = 4
    ) -> None:
        self.url = url
        self.token = token
        self.interval = interval
        self.max_tries = max_tries
        self._pending: StatusSnapshot | dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._last_sent = 0.0
        self.reports_sent = 0
        self._client = httpx.Client(timeout=10.0)
        self._thread = threading.Thread(target=self._run, name="status-sink", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(cls, *, interval: float) -> StatusSink:
        url = os.environ.get(REPORT_URL_ENV)
        if not url:
            raise ReportingOffError(f"${REPORT_URL_ENV} is not set")
        return cls(
            url, token_reader(os.environ.get(REPORT_TOKEN_ENV) or REPORT_TOKEN_PATH), interval=interval
        )

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
            body = report_body(pending) if isinstance(pending, StatusSnapshot) else pending
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
        """True when the report is taken or refused for good (a refused report is not sent again)."""
        delay = 0.2
        for attempt in range(1, self.max_tries + 1):
            headers = {}
            token = self.token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as e:
                log.warning("status report failed (try %d): %s", attempt, type(e).__name__)
            else:
                if response.status_code < 300:
                    self.reports_sent += 1
                    return True
                if response.status_code not in _RETRYABLE:
                    log.warning("status report refused: %d %s", response.status_code, response.text[:300])
                    return True
                log.info("status report got %d (try %d); retrying", response.status_code, attempt)
            if attempt < self.max_tries and not self._closing:
                time.sleep(delay)
                delay *= 2
        return False
