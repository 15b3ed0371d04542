"""The operator's one typed settings object, read once at start from YAML (``--config`` / ``$TENSORONE_OPERATOR_CONFIG``).

Everything a platform team tunes lives here, with defaults that work on a real cluster; the sandbox and the tests
override the trainer command and shorten the timings. A bad file fails the start with the offending key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from tensorone.api.spec import Priority

SETTINGS_ENV = "TENSORONE_OPERATOR_CONFIG"


class SettingsError(Exception):
    """The settings file is unreadable or invalid; the message names the key."""


class OperatorSettings(BaseModel):
    """Operator configuration (camelCase keys in YAML)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    trainer_image: str = "ghcr.io/tensorone/trainer:0.1.0"
    trainer_command: list[str] | None = Field(
        None,
        description="Replaces `torchrun … -m tensorone_trainer` (e.g. a fake trainer in the sandbox); it gets "
        "the trainer's arguments and TENSORONE_WORKER_INDEX / TENSORONE_NUM_WORKERS in its environment",
    )
    image_pull_policy: str = "IfNotPresent"
    checkpoint_storage_class: str | None = None
    checkpoint_size: str = "50Gi"
    checkpoint_mount_path: str = "/checkpoints"
    dataset_volume_claim: str | None = Field(
        None,
        description="The PVC (in each account's namespace) holding the account's datasets and models; mounted "
        "read-only at tensorone.api.data_paths.DATA_VOLUME_MOUNT_PATH, the prefix of every path a client gives",
    )
    source_credentials_secret: str | None = Field(
        "tensorone-source-credentials",
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        description="Secret in the job's namespace (optional) whose keys are the initializer's environment: "
        "endpoint and credentials of the sources it fetches (AWS_*, HF_TOKEN, HF_ENDPOINT); never given to workers",
    )
    config_mount_path: str = "/etc/tensorone"
    stall_window_seconds: float = Field(600.0, gt=0)
    termination_grace_period_seconds: int = Field(120, ge=1)
    trainer_user_id: int = Field(
        1000,
        ge=1,
        le=2**31 - 1,
        description="uid (and gid, fsGroup) worker containers run as: the trainer image's USER; never root",
    )
    report_relay_user_id: int = Field(
        65532,
        ge=1,
        le=2**31 - 1,
        description="uid of each worker's reporting relay container, the only one that can read the reporting"
        " token; never the trainer's uid (a process of the same uid could read the relay's files)",
    )
    priority_class_names: dict[Priority, str] = Field(
        default_factory=lambda: {
            Priority.HIGH: "tensorone-high",
            Priority.NORMAL: "tensorone-normal",
            Priority.LOW: "tensorone-low",
        }
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    )
    pricing_config: str | None = Field(None, description="GPU catalog/pricing YAML (default: packaged)")
    rendezvous_port: int = 29500
    max_restarts: int = Field(0, ge=0, description="torchrun --max-restarts inside one attempt")
    report_interval_seconds: float = Field(5.0, ge=0)
    report_port: int | None = Field(
        None, ge=1, le=65535, description="Serve the workers' report endpoint on this port (or --report-port)"
    )
    report_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="URL of the report endpoint as worker pods reach it, given to them in $TENSORONE_REPORT_URL;"
        " without it workers report nowhere (they still train). https:// whenever the endpoint serves TLS",
    )
    report_tls_cert_file: str | None = Field(
        None,
        max_length=4096,
        description="PEM serving certificate (chain) of the report endpoint: with reportTlsKeyFile it serves HTTPS,"
        " without them plain HTTP (the workers' bearer tokens then cross the pod network readable; a warning is"
        " logged at start)",
    )
    report_tls_key_file: str | None = Field(
        None, max_length=4096, description="PEM private key of reportTlsCertFile"
    )
    report_ca_file: str | None = Field(
        None,
        max_length=4096,
        description="PEM certificate(s) of the CA that signed reportTlsCertFile, read at start and given to each"
        " worker's relay ($TENSORONE_REPORT_CA), which verifies the endpoint against it; without it an https"
        " reportUrl is verified against the system's trust store",
    )
    resync_seconds: float = Field(30.0, gt=0, description="Reconcile each job at least this often")
    usage_flush_seconds: float = Field(30.0, gt=0, description="Persist accrued usage at least this often")
    log_tail_bytes: int = Field(512 * 1024, ge=0, description="Worker log kept per worker and attempt")
    watch_timeout_seconds: int = Field(300, ge=10)

    _report_ca_pem: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _relay_is_another_user(self) -> OperatorSettings:
        if self.report_relay_user_id == self.trainer_user_id:
            raise ValueError(
                "reportRelayUserId must differ from trainerUserId: the relay keeps its token from user code"
            )
        return self

    @model_validator(mode="after")
    def _report_tls_is_whole(self) -> OperatorSettings:
        if (self.report_tls_cert_file is None) != (self.report_tls_key_file is None):
            raise ValueError("reportTlsCertFile and reportTlsKeyFile: give both or neither")
        https = self.report_url is not None and self.report_url.lower().startswith("https://")
        if self.report_url is not None and not https and (self.report_tls_cert_file or self.report_ca_file):
            # Workers would send their tokens in clear text to an endpoint that only answers TLS.
            raise ValueError("reportUrl: must be https:// when the endpoint serves TLS (reportTlsCertFile)")
        return self

    @property
    def report_ca_pem(self) -> str | None:
        """The PEM of ``reportCaFile`` as :meth:`with_files_read` read it (workers verify the report endpoint
        against it); None before, or without one."""
        return self._report_ca_pem

    def with_files_read(self) -> OperatorSettings:
        """These settings with the files they name read in (the operator does it once, at start): the PEM of
        ``reportCaFile``. Raises :class:`SettingsError` naming the key."""
        if self.report_ca_file is None or self._report_ca_pem is not None:
            return self  # nothing to read, or read already (the CLI reads them before it calls run)
        try:
            pem = Path(self.report_ca_file).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError(f"reportCaFile: cannot read it ({type(e).__name__})") from e
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise SettingsError("reportCaFile: holds no PEM certificate")
        loaded = self.model_copy()
        loaded._report_ca_pem = pem.strip() + "\n"
        return loaded


def load_settings(path: str | Path | None = None) -> OperatorSettings:
    """Read settings from ``path``, else ``$TENSORONE_OPERATOR_CONFIG``, else the defaults."""
    chosen = path or os.environ.get(SETTINGS_ENV)
    if not chosen:
        return OperatorSettings()
    try:
        document = yaml.safe_load(Path(chosen).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SettingsError(f"cannot read operator settings {chosen}: {e}") from e
    try:
        return OperatorSettings.model_validate(document)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f"{key}: " if key else ""  # a check across keys names them in its message
        raise SettingsError(f"{chosen}: {where}{first['msg']}") from e
