"""Loading the run config (``job.json``) once, validated against the contract, failing fast.

A bad config is the user's mistake, not a transient failure: it becomes a :class:`ConfigurationError` whose
message names the offending field by its dotted path, which the CLI turns into exit 78 and a termination
message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from tensorone.api.trainer_config import RUN_CONFIG_ENV, AnyRunConfig, TrainerRunConfig
from tensorone_trainer.errors import ConfigurationError

_ADAPTER: TypeAdapter[AnyRunConfig] = TypeAdapter(TrainerRunConfig)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        # Drop the discriminator's tag (``llm``/``vision``/``custom``) from the path: users never write it.
        loc = [str(p) for p in item["loc"] if p not in ("llm", "vision", "custom")]
        parts.append(f"{'.'.join(loc) or '(root)'}: {item['msg']}")
    return "invalid run config: " + "; ".join(parts)


def parse_run_config(data: object) -> AnyRunConfig:
    """Validate a decoded run config; raise :class:`ConfigurationError` naming every bad field."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as e:
        raise ConfigurationError(_describe(e)) from e


def load_run_config(path: str | os.PathLike[str] | None) -> AnyRunConfig:
    """Read and validate the run config from ``path``, else from the file named by ``$TENSORONE_RUN_CONFIG``."""
    chosen = path if path is not None else os.environ.get(RUN_CONFIG_ENV)
    if not chosen:
        raise ConfigurationError(f"no run config: pass --config FILE or set {RUN_CONFIG_ENV}")
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"cannot read run config {file}: {e.strerror}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigurationError(f"run config {file} is not JSON: line {e.lineno}: {e.msg}") from e
    return parse_run_config(data)
