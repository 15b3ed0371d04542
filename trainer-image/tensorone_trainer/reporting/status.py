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

import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tensorone.api.reporting import MAX_REPORT_HISTORY, REPORT_TOKEN_ENV, REPORT_TOKEN_PATH, REPORT_URL_ENV
from tensorone.api.status import MetricPoint
from tensorone_trainer.reporting.base import StatusSnapshot

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({429, 500, 502, 503, 504})


class ReportingOffError(Exception):
    """No report endpoint is configured for this worker."""


def report_body(snapshot: StatusSnapshot, history: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report (:class:`tensorone.api.reporting.TrainerReport`): the trainer-owned status fields, without the
    display fields the server computes itself; ``history`` the history fields (default: the whole history)."""
    body: dict[str, Any] = {
        "progress": snapshot.progress.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_computed_fields=True
        ),
        "metrics": snapshot.metrics.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_computed_fields=True
        ),
        **({"optimizations": snapshot.optimizations.to_wire()} if snapshot.optimizations else {}),
        "checkpoints": [c.to_wire() for c in snapshot.checkpoints],
        **(history if history is not None else {"history": [p.to_wire() for p in snapshot.history]}),
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


class _Outcome(enum.Enum):
    TAKEN = "taken"
    REFUSED = "refused"  # for good: not sent again
    RESET = "reset"  # the endpoint asks for the whole history
    FAILED = "failed"  # after every try: sent again with the next round


@dataclass
class _Batch:
    """What one report carries beyond the snapshot's fields: the history, whole or the new points."""

    fields: dict[str, Any]
    points: int  # how many of the sink's unsent points it carries
    reset: bool


class StatusSink:
    """Ships the newest snapshot to the report endpoint, at most once per ``interval`` seconds.

    History goes as deltas: each report carries the points the endpoint has not taken yet, with their stream
    position (``historySeq``), so the endpoint appends each point once even when a batch is sent again. The first
    report, and any after the endpoint asks (409), carries the whole thinned history instead (``historyReset``),
    as does one whose points would take the status's history past its bound.
    """

    def __init__(
        self, url: str, token: Callable[[], str | None], *, interval: float, max_tries: int = 4
    ) -> None:
        self.url = url
        self.token = token
        self.interval = interval
        self.max_tries = max_tries
        self._pending: StatusSnapshot | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._last_sent = 0.0
        self._unsent: list[MetricPoint] = []  # points the endpoint has not taken yet, oldest first
        self._produced = 0  # points made so far: the newest one's stream position
        self._status_points: int | None = None  # the status's history length as written; None: send it whole
        self.reports_sent = 0
        self.resets_sent = 0
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
            self._unsent.extend(snapshot.new_points)
            self._produced += len(snapshot.new_points)
        self._wake.set()

    def close(self, timeout: float = 15.0) -> None:
        """Ship the last snapshot now (ignoring the interval) and stop the thread."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self._client.close()

    def _batch(self, snapshot: StatusSnapshot) -> _Batch:
        """Called under the lock: the snapshot is the newest, so its history holds every point made so far."""
        count = len(self._unsent)
        known = self._status_points
        if known is None or known + count > MAX_REPORT_HISTORY:
            history = [p.to_wire() for p in snapshot.history]
            fields = {"history": history, "historySeq": self._produced, "historyReset": True}
            return _Batch(fields, count, reset=True)
        points = [p.to_wire() for p in self._unsent]
        return _Batch({"history": points, "historySeq": self._produced}, count, reset=False)

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
                snapshot, self._pending = self._pending, None
                self._wake.clear()
                batch = None if snapshot is None else self._batch(snapshot)
            if snapshot is not None and batch is not None:
                self._last_sent = time.monotonic()
                outcome = self._send(report_body(snapshot, batch.fields))
                with self._lock:
                    if outcome in (_Outcome.TAKEN, _Outcome.REFUSED):
                        # A refused report's points are dropped with it (the next batch's position says so).
                        del self._unsent[: batch.points]
                    if outcome is _Outcome.TAKEN:
                        self.resets_sent += batch.reset
                        size = len(batch.fields["history"])
                        self._status_points = size if batch.reset else (self._status_points or 0) + size
                    elif outcome is _Outcome.RESET:
                        self._status_points = None
                    again = outcome is _Outcome.RESET or (outcome is _Outcome.FAILED and not self._closing)
                    if again and self._pending is None:
                        self._pending = snapshot  # again with the next round, unless a newer one came
                        self._wake.set()
                    if outcome is _Outcome.RESET:
                        self._last_sent = 0.0  # at once: the endpoint took nothing of it
            if self._closing:
                with self._lock:
                    if self._pending is None:
                        return

    def _send(self, body: dict[str, Any]) -> _Outcome:
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
                    return _Outcome.TAKEN
                if response.status_code == 409 and not body.get("historyReset"):
                    log.info("the report endpoint asks for the whole history")
                    return _Outcome.RESET
                if response.status_code not in _RETRYABLE:
                    log.warning("status report refused: %d %s", response.status_code, response.text[:300])
                    return _Outcome.REFUSED
                log.info("status report got %d (try %d); retrying", response.status_code, attempt)
            if attempt < self.max_tries and not self._closing:
                time.sleep(delay)
                delay *= 2
        return _Outcome.FAILED
