"""Custom code (``train(context)``) gets progress reporting, checkpoints, resume and a clear failure message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tiny_models import run_trainer, step_losses

pytestmark = pytest.mark.slow

LINEAR_REGRESSION = """
import torch

def train(context):
    torch.manual_seed(context.training.seed)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x + 0.5
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=context.training.learning_rate)
    start = 0
    state = context.load_checkpoint()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    total = 30
    context.set_total_steps(total)
    for step in range(start + 1, total + 1):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        context.report(step=step, loss=loss.item(), learning_rate=context.training.learning_rate)
        if step % 10 == 0 or context.should_stop():
            context.save_checkpoint(
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step},
                step=step, loss=loss.item(),
            )
        if context.should_stop():
            return
"""


def _config(code: str) -> dict[str, Any]:
    return {
        "modelType": "custom",
        "dataset": {"path": "/unused", "format": "jsonl"},
        "config": {"customCode": code, "training": {"learning_rate": 0.1}},
    }


def test_custom_code_reports_progress_and_checkpoints_and_resumes(tmp_path: Path) -> None:
    done = run_trainer(_config(LINEAR_REGRESSION), tmp_path / "full")
    assert done.returncode == 0, done.stderr
    losses = step_losses(tmp_path / "full")
    assert sorted(losses) == list(range(1, 31))
    assert losses[30] < 0.1 * losses[1]
    status = json.loads((tmp_path / "full" / "status.json").read_text())
    assert status["progress"]["totalSteps"] == 30
    assert status["progress"]["percentage"] == 100.0
    assert [c["id"] for c in status["checkpoints"]] == ["ckpt_step_10", "ckpt_step_20", "ckpt_step_30"]

    resumed = tmp_path / "resumed"
    shutil.copytree(
        tmp_path / "full" / "checkpoints" / "ckpt_step_10", resumed / "checkpoints" / "ckpt_step_10"
    )
    done = run_trainer(_config(LINEAR_REGRESSION), resumed, "--resume-from", "ckpt_step_10")
    assert done.returncode == 0, done.stderr
    assert step_losses(resumed) == {s: v for s, v in losses.items() if s > 10}


def test_custom_code_failure_names_the_line(tmp_path: Path) -> None:
    code = "def train(context):\n    x = 1\n    return x / 0\n"
    termination = tmp_path / "termination"
    done = run_trainer(_config(code), tmp_path / "out", TENSORONE_TERMINATION_LOG=str(termination))
    assert done.returncode == 1
    assert termination.read_text() == "customCode raised ZeroDivisionError at line 3: division by zero"
