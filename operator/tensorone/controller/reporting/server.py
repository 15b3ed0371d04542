"""``POST /v1/reports``: the one way a worker's progress, metrics and checkpoints reach the job's status.

Each report: bearer token -> TokenReview for the reporting audience (cached) -> the pod it is bound to -> that pod
must be a worker of the current attempt of an unfinished job -> the body must be the trainer's part of the status
(unknown fields such as ``phase``, ``resourceUsage`` or ``cost`` refused with 400 naming the field; finite numbers;
bounded sizes; steps never going back within an attempt) -> the write is coalesced per job (a report with new
checkpoints, or the trainer's ``final`` one, is written before the answer). History points come as deltas and
are appended once each, by their stream position (see :class:`~tensorone.api.reporting.TrainerReport`). Answers:
202 taken, 400 invalid (``field`` named), 401 no valid reporting token, 403 not a current worker of a running job,
409 send the whole history (``historyReset``), 413 too large, 503 the API server could not review the token. Messages never quote the body or the token.

The token is a bearer credential, so the endpoint serves HTTPS when it has a serving certificate (the relays verify
it against the CA the operator gives them); plain HTTP only without one, with a warning at start.
"""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from tensorone.api.reporting import (
    MAX_REPORT_BYTES,
    MAX_REPORT_HISTORY,
    REPORT_AUDIENCE,
    REPORTS_PATH,
    TrainerReport,
)
from tensorone.controller.kube import KubeClient
from tensorone.controller.reporting.directory import JobDirectory, JobKey, NotAWorkerError, ReportTarget
from tensorone.controller.reporting.tokens import TokenReviewer, TokenReviewError
from tensorone.controller.reporting.writer import HistoryWrite, StatusWriter

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status)


def _field(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "body"


class ReportEndpoint:
    """The handler and its state; one per operator process."""

    def __init__(self, reviewer: TokenReviewer, directory: JobDirectory, writer: StatusWriter) -> None:
        self.reviewer = reviewer
        self.directory = directory
        self.writer = writer
        self._steps: dict[JobKey, tuple[str, int, int]] = {}  # job -> (uid, attempt, newest step taken)
        # job -> (uid, attempt, stream position of the newest history point taken, points in the status's history)
        self._history: dict[JobKey, tuple[str, int, int, int]] = {}
        self._checkpoints: dict[JobKey, list[str]] = {}  # job -> checkpoint ids of its newest report
        self.refused: dict[int, int] = {}

    def _refuse(self, response: web.Response) -> web.Response:
        self.refused[response.status] = self.refused.get(response.status, 0) + 1
        return response

    def _history_write(
        self, key: JobKey, target: ReportTarget, report: TrainerReport
    ) -> tuple[HistoryWrite, tuple[str, int, int, int]] | web.Response | None:
        """How the report's history reaches the status, and the job's history position after it (or the 409 that
        asks for the whole history). ``report.history`` is cut to the points not taken before."""
        points = report.history
        if points is None:
            return None
        seq = report.history_seq
        if seq is None or report.history_reset:
            # The whole history: it replaces the status's (a position of -1: no deltas without a reset first).
            return HistoryWrite.REPLACE, (target.uid, target.attempt, -1 if seq is None else seq, len(points))
        known = self._history.get(key)
        if known is None or known[:2] != (target.uid, target.attempt) or known[2] < 0:
            return _resend_history("this endpoint holds no count of the attempt's history")
        if key in self.writer.needs_reset:
            return _resend_history("the status's history could not be extended")
        _, _, taken, size = known
        fresh = min(len(points), max(0, seq - taken))  # the batch ends at ``seq``: its newest points are new
        if size + fresh > MAX_REPORT_HISTORY:
            return _resend_history(f"it would pass {MAX_REPORT_HISTORY} points")
        report.history = points[len(points) - fresh :]
        return HistoryWrite.APPEND, (target.uid, target.attempt, max(taken, seq), size + fresh)

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._refuse(_error(401, "UNAUTHENTICATED", "a bearer reporting token is required"))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(
                _error(413, "PAYLOAD_TOO_LARGE", f"a report is at most {MAX_REPORT_BYTES} bytes")
            )
        try:
            identity = await self.reviewer.identify(token.strip())
        except TokenReviewError as e:
            log.warning("cannot review a reporting token: %s", e)
            return _error(503, "UNAVAILABLE", "the token cannot be checked now; report again later")
        if identity is None:
            return self._refuse(_error(401, "UNAUTHENTICATED", "not a valid reporting token"))
        try:
            target = self.directory.resolve(identity)
        except NotAWorkerError as e:
            return self._refuse(_error(403, "FORBIDDEN", str(e)))
        try:
            report = TrainerReport.model_validate_json(raw)
        except ValidationError as e:
            first = e.errors(include_input=False, include_url=False)[0]
            field = _field(first)
            return self._refuse(_error(400, "INVALID_REPORT", f"{field}: {first['msg']}", field))
        key = (target.namespace, target.name)
        for index, artifact in enumerate(report.artifacts or []):
            if f"/{target.namespace}/{target.name}/" not in artifact.path + "/":
                field = f"artifacts.{index}.path"
                return self._refuse(
                    _error(400, "INVALID_REPORT", f"{field}: not in this job's folder", field)
                )
        history = self._history_write(key, target, report)
        if isinstance(history, web.Response):
            return self._refuse(history)
        if report.progress is not None:
            step = report.progress.current_step
            known = self._steps.get(key)
            if known is not None and known[:2] == (target.uid, target.attempt) and step < known[2]:
                field = "progress.currentStep"
                return self._refuse(
                    _error(
                        400, "INVALID_REPORT", f"{field}: went back within attempt {target.attempt}", field
                    )
                )
            self._steps[key] = (target.uid, target.attempt, step)
        if history is not None:
            mode, position = history
            self._history[key] = position
            if mode is HistoryWrite.REPLACE:
                self.writer.needs_reset.discard(key)
        if len(self._steps) + len(self._checkpoints) + len(self._history) > 6 * len(self.directory) + 1000:
            # Forget jobs this operator no longer runs (bounded memory; their pods are refused anyway).
            self._steps = {k: v for k, v in self._steps.items() if k in self.directory}
            self._checkpoints = {k: v for k, v in self._checkpoints.items() if k in self.directory}
            self._history = {k: v for k, v in self._history.items() if k in self.directory}
        # The receive time, not the worker's word: stall detection reads it.
        report.last_report_time = datetime.now(UTC).replace(microsecond=0)
        urgent = bool(report.final)
        if report.checkpoints is not None:
            ids = [c.id for c in report.checkpoints]
            urgent = urgent or ids != self._checkpoints.get(key)
            self._checkpoints[key] = ids
        written = self.writer.submit(
            key, report, urgent=urgent, history=None if history is None else history[0]
        )
        if urgent and not await written:
            # The sender retries: its checkpoints or last figures must reach the status.
            return _error(503, "UNAVAILABLE", "the report could not be written now; report again later")
        return web.json_response({"accepted": True}, status=202)


def _resend_history(why: str) -> web.Response:
    field = "history"
    return _error(
        409, "HISTORY_RESET_NEEDED", f"{field}: {why}; send the whole history with historyReset", field
    )


def build_app(endpoint: ReportEndpoint) -> web.Application:
    app = web.Application(client_max_size=MAX_REPORT_BYTES)
    app.router.add_post(REPORTS_PATH, endpoint.handle)
    return app


async def start_report_server(
    client: KubeClient,
    directory: JobDirectory,
    host: str,
    port: int,
    *,
    write_interval: float,
    token_ttl: float = 30.0,
    tls: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, ReportEndpoint]:
    """Serve the endpoint on ``host:port`` in the running event loop (the operator's); stop with ``runner.cleanup()``.
    Each job's status is written at most every ``write_interval`` seconds (the newest report wins). With ``tls`` it
    serves HTTPS only; without it plain HTTP, which it warns about."""
    endpoint = ReportEndpoint(
        TokenReviewer(client, REPORT_AUDIENCE, ttl=token_ttl), directory, StatusWriter(client, write_interval)
    )
    runner = web.AppRunner(build_app(endpoint), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    if tls is None:
        log.warning(
            "report endpoint serves plain HTTP on %s:%d: workers' reporting tokens cross the network readable;"
            " give it reportTlsCertFile and reportTlsKeyFile",
            host,
            port,
        )
    else:
        log.info("report endpoint listening (HTTPS) on %s:%d%s", host, port, REPORTS_PATH)
    return runner, endpoint
