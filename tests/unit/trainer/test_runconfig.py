"""The run config is validated on start; a bad one names the field by its dotted path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tensorone.api.trainer_config import LlmRunConfig
from tensorone_trainer.errors import ConfigurationError
from tensorone_trainer.runconfig import load_run_config

GOOD = {"modelType": "llm", "dataset": {"path": "/d.jsonl", "format": "jsonl"}, "config": {"baseModel": "/m"}}


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps(GOOD))
    run = load_run_config(tmp_path / "job.json")
    assert isinstance(run, LlmRunConfig)
    assert run.config.parameters.alpha == 16.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": {"baseModel": "/m", "training": {"epochs": 0}}}, "config.training.epochs"),
        ({"config": {"baseModel": "/m", "parameters": {"rank": "big"}}}, "config.parameters.rank"),
        ({"dataset": {"path": "/d", "format": "xml"}}, "dataset.format"),
        ({"checkpoint": {"keepLast": 0}}, "checkpoint.keepLast"),
    ],
    ids=["epochs", "rank", "format", "keep-last"],
)
def test_bad_field_is_named(tmp_path: Path, change: dict[str, object], field: str) -> None:
    (tmp_path / "job.json").write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(ConfigurationError, match=field.replace(".", r"\.")):
        load_run_config(tmp_path / "job.json")


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "job.json").write_text(json.dumps(GOOD))
    monkeypatch.setenv("TENSORONE_RUN_CONFIG", str(tmp_path / "job.json"))
    assert load_run_config(None).config.base_model == "/m"
