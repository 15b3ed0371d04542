"""The reporting channel between a job's workers and the operator (after Kubeflow Trainer's KEP-2779).

Workers hold no Kubernetes API credential. Rank 0 POSTs its part of the status (a :class:`TrainerReport`) to the
operator's report endpoint with a projected ServiceAccount token whose audience is :data:`REPORT_AUDIENCE`; the
API server accepts only its own audience, so that token cannot call the Kubernetes API. The operator checks the
token with a TokenReview (which names the pod it is bound to), maps the pod to its job, validates the report
against this model and writes only the trainer's fields. Both sides import these names from here.

User code runs in the trainer container, so that container holds no token at all: the pod's reporting relay
container (another uid, its own mounts) holds the only mount of it. The trainer POSTs its reports to the relay on
the pod's loopback (:func:`relay_url`) and the relay forwards them with the token, so custom code can at most send
its own job's progress and metrics, which the endpoint validates like any report. The trainer's launcher holds the
abstract socket :data:`~tensorone.api.relay.TRAINER_ALIVE_ADDRESS` while it runs (the containers of a pod share its network namespace,
and with it the abstract socket names); the relay ends when the trainer has ended, so the pod does too.

The token is a bearer credential, so the relay reaches the endpoint over HTTPS and verifies its certificate against
the CA the operator gives it (:data:`REPORT_CA_ENV`) before it sends anything.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, field_validator, model_validator

from tensorone.api.base import OpenCamelModel
from tensorone.api.relay import REPORT_RELAY_PORT
from tensorone.api.status import (
    TRAINER_STATUS_FIELDS,
    Artifact,
    CheckpointInfo,
    MetricPoint,
    Metrics,
    Optimizations,
    Progress,
)

REPORT_AUDIENCE = "tensorone.ai/reports"
"""The audience of the worker's token: the report endpoint's, never the Kubernetes API server's."""
REPORT_TOKEN_DIR = "/var/run/secrets/tensorone.ai/reports"
REPORT_TOKEN_FILE = "token"
REPORT_TOKEN_PATH = f"{REPORT_TOKEN_DIR}/{REPORT_TOKEN_FILE}"
REPORT_URL_ENV = "TENSORONE_REPORT_URL"
"""The worker's environment variable holding the endpoint's URL (the operator's ``reportUrl`` setting)."""
REPORT_TOKEN_ENV = "TENSORONE_REPORT_TOKEN"
"""The worker's environment variable holding the token's path (:data:`REPORT_TOKEN_PATH` as mounted)."""
REPORT_CA_ENV = "TENSORONE_REPORT_CA"
"""The relay's environment variable holding the PEM certificate(s) of the CA that signed the endpoint's serving
certificate (the operator's ``reportCaFile``). A CA certificate is public, so an environment variable is enough, and
it reaches pods in any namespace without an object per namespace. Unset with an ``https`` URL: the system's trust
store."""
REPORTS_PATH = "/v1/reports"


def report_url(host: str, port: int, *, tls: bool) -> str:
    """Where reports go, for an endpoint listening at ``host:port``; ``tls``: over HTTPS (the bearer token crosses
    the pod network), else plain HTTP (only the pod's own loopback, :func:`relay_url`)."""
    return f"{'https' if tls else 'http'}://{host}:{port}{REPORTS_PATH}"


def relay_url() -> str:
    """Where the trainer container sends its reports: the pod's relay, which forwards them with the token. Plain
    HTTP: it never leaves the pod, and the trainer sends no token."""
    return report_url("127.0.0.1", REPORT_RELAY_PORT, tls=False)


REPORT_TOKEN_SECONDS = 3607
"""Lifetime of the projected token; the kubelet refreshes it well before it expires."""

MAX_REPORT_BYTES = 1024 * 1024
MAX_REPORT_CHECKPOINTS = 512
MAX_REPORT_HISTORY = 2000
MAX_REPORT_ARTIFACTS = 16
_TEXT = 64
_CHECKPOINT_ID = (
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"  # a folder name under the checkpoint root: no '/', no '..'
)

# Untrusted input: unknown fields refused (naming them), NaN and ±Infinity refused, texts and lists bounded.
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=_TEXT)


class ReportedProgress(Progress):
    model_config = _STRICT


class ReportedMetrics(Metrics):
    model_config = _STRICT


class ReportedOptimizations(Optimizations):
    model_config = _STRICT


class ReportedCheckpoint(CheckpointInfo):
    model_config = _STRICT

    id: str = Field(pattern=_CHECKPOINT_ID, max_length=128)


class ReportedPoint(MetricPoint):
    model_config = _STRICT


class ReportedArtifact(Artifact):
    model_config = _STRICT

    # Shown to the user and read back by path: absolute, no "." or ".." segments (the endpoint also checks that it
    # lies in the reporting job's own folder).
    path: str = Field(max_length=4096, pattern=r"^(/[^/\x00-\x1f]+)+$")
    size: str = Field(max_length=32)
    size_bytes: int = Field(ge=0, le=2**53)

    @field_validator("path")
    @classmethod
    def _no_dot_segments(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError("must not contain '.' or '..' segments")
        return value


class TrainerReport(OpenCamelModel):
    """The body of ``POST /v1/reports``: the trainer-owned part of the status and nothing else.

    ``history`` comes in one of three forms. With ``historySeq`` (the trainer's count of points so far, the newest
    point's position in its stream), it holds only points the trainer has not had taken yet, ending at that
    position; the endpoint appends those it has not taken before, so a batch sent again after a network error adds
    nothing twice. With ``historySeq`` and ``historyReset``, it is the whole (thinned) history, which replaces the
    status's: a trainer's first report, and its answer to a 409 (the endpoint lost count, or the history would
    grow past :data:`MAX_REPORT_HISTORY`). Without ``historySeq``, it is the whole history too (older trainers).

    ``lastReportTime`` is accepted for the trainer's convenience but the operator writes its own receive time
    (stall detection must not trust the worker's clock or word). ``final`` is no status field: it marks the
    trainer's last report, which the endpoint writes before it answers (as it does a report with new checkpoints),
    so a trainer that exits after it leaves its figures in the status.
    """

    model_config = _STRICT

    progress: ReportedProgress | None = None
    metrics: ReportedMetrics | None = None
    optimizations: ReportedOptimizations | None = None
    checkpoints: list[ReportedCheckpoint] | None = Field(None, max_length=MAX_REPORT_CHECKPOINTS)
    history: list[ReportedPoint] | None = Field(None, max_length=MAX_REPORT_HISTORY)
    artifacts: list[ReportedArtifact] | None = Field(None, max_length=MAX_REPORT_ARTIFACTS)
    last_report_time: datetime | None = None
    final: bool | None = None
    history_seq: int | None = Field(None, ge=0, le=2**53)
    history_reset: bool | None = None

    @model_validator(mode="after")
    def _reset_has_a_position(self) -> TrainerReport:
        if self.history_reset and self.history_seq is None:
            raise ValueError("historySeq: required with historyReset")
        return self


REPORT_CONTROL_FIELDS = frozenset({"final", "history_seq", "history_reset"})
"""The report's fields that steer the endpoint and are never written to the status."""
REPORT_STATUS_FIELDS = frozenset(TrainerReport.model_fields) - REPORT_CONTROL_FIELDS
"""The report's fields that are written to the status: exactly the trainer's (``TRAINER_STATUS_FIELDS``)."""
assert {TrainerReport.model_fields[name].alias for name in REPORT_STATUS_FIELDS} == TRAINER_STATUS_FIELDS
