"""The facade's one settings object: read once from arguments and ``TENSORONE_FACADE_*`` variables."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tensorone.api.accounts import ACCOUNT_NAMESPACE_TEMPLATE, account_namespace
from tensorone.api.names import ACCOUNT_LABEL, API_KEY_LABEL, MANAGED_BY_LABEL
from tensorone.api.names import FACADE_MANAGED_BY as MANAGED_BY

# The labels are the platform's shared names (tensorone.api.names), re-exported for the facade's modules.
__all__ = ["ACCOUNT_LABEL", "API_KEY_LABEL", "ENV_PREFIX", "MANAGED_BY", "MANAGED_BY_LABEL", "Settings"]

ENV_PREFIX = "TENSORONE_FACADE_"


class Settings(BaseModel):
    """Everything the facade is configured with; every field can come from ``TENSORONE_FACADE_<NAME>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kubeconfig: str | None = Field(
        None, description="kubeconfig path; None = in-cluster, then ~/.kube/config"
    )
    keys_namespace: str = Field("tensorone-system", description="Namespace of the API-key Secrets")
    namespace_template: str = Field(ACCOUNT_NAMESPACE_TEMPLATE, description="Namespace of an account")
    catalog_path: str | None = Field(
        None, description="GPU catalog YAML (default: TENSORONE_CONFIG / packaged)"
    )
    rate_limit_per_second: float = Field(50.0, gt=0, description="Sustained requests/s per API key")
    rate_limit_burst: int = Field(100, ge=1, description="Requests a key may burst above the sustained rate")
    client_rate_limit_per_second: float = Field(
        200.0, gt=0, description="Sustained requests/s per client address, counted before authentication"
    )
    client_rate_limit_burst: int = Field(400, ge=1, description="Requests a client address may burst")
    auth_failure_rate_per_second: float = Field(
        5.0, gt=0, description="Sustained failed authentications/s per client address before 429"
    )
    auth_failure_burst: int = Field(50, ge=1, description="Failed authentications a client may burst")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted")
    max_active_jobs: int = Field(20, ge=1, description="Unfinished jobs an account may have at once")
    max_active_gpus: int = Field(
        64, ge=1, description="GPUs an account's unfinished jobs may request at once"
    )
    key_refresh_seconds: float = Field(
        30.0, gt=0, description="Full re-read of the key Secrets (watch in between)"
    )
    node_cache_seconds: float = Field(5.0, ge=0, description="How long the list of GPU nodes is reused")
    kube_timeout_seconds: float = Field(15.0, gt=0)
    reader_image: str = Field(
        "ghcr.io/tensorone/trainer:0.1.0",
        description="Image of the artifact reader pod (the trainer image: it holds tensorone_trainer.serve_artifacts)",
    )
    reader_user_id: int = Field(
        1000, ge=1, description="User the reader runs as: the workers' (they wrote the files)"
    )
    reader_idle_seconds: float = Field(
        300.0, gt=0, le=86_400, description="An artifact reader exits after this long without a download"
    )
    reader_start_seconds: float = Field(
        90.0, gt=0, le=3600, description="How long a download waits for its job's reader pod to answer"
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from ``TENSORONE_FACADE_*`` variables; explicit non-None ``overrides`` win."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def namespace_of(self, account: str) -> str:
        """The namespace holding ``account``'s jobs and datasets."""
        return account_namespace(account, self.namespace_template)
