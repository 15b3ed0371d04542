"""Speed options through the command line: background checkpoint saves write what a synchronous save writes,
``torch.compile`` keeps exact resume, and the status says which options the run used.

(Stop + resume at tolerance 0 with background saves, the default, is also what test_llm_training checks.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tiny_models import (
    build_tiny_llama,
    llm_run_config,
    run_trainer,
    step_losses,
    stop_with_sigterm_after_step,
    write_text_dataset,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("speed")
    build_tiny_llama(root / "model")
    write_text_dataset(root / "data.jsonl", n=40)
    return root


def _config(workdir: Path, **optimization: Any) -> dict[str, Any]:
    config = llm_run_config(workdir / "model", workdir / "data.jsonl", epochs=1, save_every_steps=3)
    config["config"]["optimization"] = optimization
    return config


def _weight_hashes(output: Path) -> dict[str, dict[str, str]]:
    """Per checkpoint, the sha256 of its weight files (the state file also holds wall-clock time)."""
    hashes = {}
    for folder in sorted((output / "checkpoints").iterdir()):
        files = json.loads((folder / "manifest.json").read_text())["files"]
        hashes[folder.name] = {
            name: f["sha256"] for name, f in files.items() if name.endswith(".safetensors")
        }
    return hashes


@pytest.fixture(scope="module")
def saved_both_ways(workdir: Path) -> dict[bool, Path]:
    """The same run with background checkpoint saves (True) and synchronous ones (False)."""
    outputs = {}
    for background in (True, False):
        outputs[background] = workdir / f"async-{background}"
        done = run_trainer(_config(workdir, async_checkpoint=background), outputs[background])
        assert done.returncode == 0, done.stderr
    return outputs


def test_background_and_synchronous_checkpoints_hold_the_same_weights(
    saved_both_ways: dict[bool, Path],
) -> None:
    for background, output in saved_both_ways.items():
        status = json.loads((output / "status.json").read_text())
        assert status["optimizations"]["asyncCheckpoint"] is background
        # Reported only once written: every checkpoint the status lists is complete on disk.
        for checkpoint in status["checkpoints"]:
            assert (output / "checkpoints" / checkpoint["id"] / "manifest.json").is_file()
    assert step_losses(saved_both_ways[True]) == step_losses(saved_both_ways[False])
    assert _weight_hashes(saved_both_ways[True]) == _weight_hashes(saved_both_ways[False])
    assert any(_weight_hashes(saved_both_ways[True]).values())


def test_background_saves_stopped_and_resumed_give_the_same_losses(
    workdir: Path, saved_both_ways: dict[bool, Path]
) -> None:
    # The stop's checkpoint is written in the background too: the trainer must wait for it before it exits.
    config = _config(workdir, async_checkpoint=True)
    output = workdir / "async-stopped"
    stopped_at = stop_with_sigterm_after_step(config, output, step=4)
    assert stopped_at < max(step_losses(saved_both_ways[True])), "the run should have stopped early"
    assert (output / "checkpoints" / f"ckpt_step_{stopped_at}" / "manifest.json").is_file()
    resumed = run_trainer(config, output, "--resume-from", "latest")
    assert resumed.returncode == 0, resumed.stderr
    assert step_losses(output) == step_losses(saved_both_ways[True])


def test_compiled_run_stopped_and_resumed_gives_the_same_losses(workdir: Path) -> None:
    full = workdir / "compiled-full"
    done = run_trainer(_config(workdir, compile=True), full, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((full / "status.json").read_text())["optimizations"]["compile"] is True

    output = workdir / "compiled-stopped"
    stopped_at = stop_with_sigterm_after_step(_config(workdir, compile=True), output, step=4)
    assert stopped_at < max(step_losses(full)), "the run should have stopped early"
    resumed = run_trainer(_config(workdir, compile=True), output, "--resume-from", "latest", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    # Tolerance 0: the resumed process compiles the same graphs and continues from the same state.
    assert step_losses(output) == step_losses(full)
