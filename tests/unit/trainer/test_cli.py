"""The command line's defaults and its tolerance of a missing cluster."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tensorone_trainer.cli import _sinks, build_parser
from tensorone_trainer.reporting.jsonl import JsonlSink
from tensorone_trainer.runconfig import parse_run_config


def test_resume_from_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORONE_RESUME_FROM", "ckpt_step_40")
    args = build_parser().parse_args(["run", "--output", "/tmp/x"])
    assert args.resume_from == "ckpt_step_40"


def test_a_status_target_without_a_cluster_only_turns_status_reporting_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    run = parse_run_config(
        {
            "modelType": "llm",
            "dataset": {"path": "/d.jsonl", "format": "jsonl"},
            "statusTarget": {"namespace": "default", "name": "job-1"},
            "config": {"baseModel": "/m"},
        }
    )
    with caplog.at_level(logging.WARNING):
        sinks = _sinks(run, tmp_path, None)
    assert [type(s) for s in sinks] == [JsonlSink]
    assert "status reporting to job-1 is off" in caplog.text
