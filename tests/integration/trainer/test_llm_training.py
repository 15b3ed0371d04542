"""LoRA training through the command line, as a pod or a person runs it.

Tiny random-init Llama, small learnable datasets, CPU, deterministic settings. The headline property: a run
stopped at step k (SIGTERM, as a suspended job gets) and resumed gives bitwise the same loss at every later
step as the uninterrupted run — with one process and with two under torchrun (gloo).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import string
from pathlib import Path
from typing import Any

import pytest

from tensorone.api.trainer_config import EXIT_CONFIGURATION_ERROR, EXIT_DATA_ERROR
from tensorone_trainer.cli import main
from tests.helpers.tiny_models import (
    build_tiny_llama,
    llm_run_config,
    read_metrics,
    run_trainer,
    step_losses,
    stop_with_sigterm_after_step,
    write_text_dataset,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("llm")
    build_tiny_llama(root / "model")
    write_text_dataset(root / "data.jsonl", n=40)
    return root


@pytest.fixture(scope="module")
def uninterrupted(workdir: Path) -> Path:
    """The reference run: 2 epochs, validation, a checkpoint every 4 steps, merged model."""
    config = llm_run_config(
        workdir / "model", workdir / "data.jsonl", validation_split=0.1, save_every_steps=4
    )
    done = run_trainer(config, workdir / "full", "--merge")
    assert done.returncode == 0, done.stderr
    return workdir / "full"


def test_loss_falls_on_a_learnable_dataset(uninterrupted: Path) -> None:
    losses = list(step_losses(uninterrupted).values())
    total_steps = json.loads((uninterrupted / "status.json").read_text())["progress"]["totalSteps"]
    assert len(losses) == total_steps
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    evals = [p["evalLoss"] for p in read_metrics(uninterrupted) if "evalLoss" in p]
    assert evals[-1] < evals[0]


def test_artifacts_adapter_merged_model_tokenizer_and_checkpoints(uninterrupted: Path) -> None:
    assert json.loads((uninterrupted / "adapter" / "adapter_config.json").read_text())["r"] == 4
    assert (uninterrupted / "adapter" / "adapter_model.safetensors").is_file()
    assert (uninterrupted / "adapter" / "tokenizer.json").is_file()
    assert (uninterrupted / "merged" / "model.safetensors").is_file()
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(str(uninterrupted / "merged"))
    assert not any("lora" in name for name, _ in merged.named_parameters())
    kept = sorted(p.name for p in (uninterrupted / "checkpoints").iterdir())
    assert "ckpt_epoch_2" in kept
    assert len(kept) <= 4  # keepLast 3 + best
    manifest = json.loads((uninterrupted / "checkpoints" / "ckpt_epoch_2" / "manifest.json").read_text())
    assert (manifest["epoch"], manifest["step"]) == (2, max(step_losses(uninterrupted)))
    assert {"adapter/adapter_model.safetensors", "trainer_state.pt"} <= set(manifest["files"])
    status = json.loads((uninterrupted / "status.json").read_text())
    assert status["progress"]["percentage"] == 100.0
    assert status["metrics"]["throughput"].endswith("tokens/sec")


def test_stop_with_sigterm_then_resume_gives_the_same_loss_curve(workdir: Path, uninterrupted: Path) -> None:
    config = llm_run_config(
        workdir / "model", workdir / "data.jsonl", validation_split=0.1, save_every_steps=4
    )
    output = workdir / "stopped"
    stopped_at = stop_with_sigterm_after_step(config, output, step=5)
    assert stopped_at < max(step_losses(uninterrupted)), "the run should have stopped early"
    assert (output / "checkpoints" / f"ckpt_step_{stopped_at}" / "manifest.json").is_file() or (
        output / "checkpoints" / "ckpt_epoch_1"
    ).is_file()
    assert not (output / "adapter").exists()  # not finished: no final artifacts yet

    resumed = run_trainer(config, output, "--resume-from", "latest")
    assert resumed.returncode == 0, resumed.stderr
    # Tolerance 0: same weights, optimizer, scheduler, RNG and data position give the same floats.
    assert step_losses(output) == step_losses(uninterrupted)


def test_resume_skips_a_damaged_checkpoint_and_still_matches(workdir: Path, uninterrupted: Path) -> None:
    output = workdir / "damaged"
    output.mkdir()
    shutil.copytree(uninterrupted / "checkpoints", output / "checkpoints")
    shutil.copy(uninterrupted / "metrics.jsonl", output / "metrics.jsonl")
    (output / "checkpoints" / "ckpt_epoch_2" / "trainer_state.pt").write_bytes(b"corrupted")
    config = llm_run_config(
        workdir / "model", workdir / "data.jsonl", validation_split=0.1, save_every_steps=4
    )
    resumed = run_trainer(config, output, "--resume-from", "latest")
    assert resumed.returncode == 0, resumed.stderr
    assert "ckpt_epoch_2 fails its hash check" in resumed.stderr
    assert "resumed from ckpt_step_" in resumed.stderr
    assert step_losses(output) == step_losses(uninterrupted)


def test_two_workers_stop_with_sigterm_and_resume_give_the_same_loss_curve(workdir: Path) -> None:
    config = llm_run_config(workdir / "model", workdir / "data.jsonl", epochs=1, save_every_steps=3)
    full = run_trainer(config, workdir / "ddp-full", nproc=2)
    assert full.returncode == 0, full.stderr

    output = workdir / "ddp-stopped"
    stopped_at = stop_with_sigterm_after_step(config, output, step=2, nproc=2)
    assert stopped_at < max(step_losses(workdir / "ddp-full"))
    resumed = run_trainer(config, output, "--resume-from", "latest", nproc=2)
    assert resumed.returncode == 0, resumed.stderr
    assert step_losses(output) == step_losses(workdir / "ddp-full")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"training": {"epochs": 0}}, "config.training.epochs"),
        ({"strategy": "qlora"}, "config.strategy"),
        ({"baseModel": "/nonexistent/model"}, "config.baseModel"),
    ],
    ids=["out-of-range", "qlora-without-gpu", "missing-model"],
)
def test_bad_config_exits_78_naming_the_field(
    workdir: Path, change: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = llm_run_config(workdir / "model", workdir / "data.jsonl")
    config["config"].update(change)
    (workdir / "bad-job.json").write_text(json.dumps(config))
    termination = workdir / f"termination-{field}"
    monkeypatch.setenv("TENSORONE_TERMINATION_LOG", str(termination))
    # In-process (the entrypoint's own function) to keep the suite fast; the 65 path below runs the real process.
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["run", "--config", str(workdir / "bad-job.json"), "--output", str(workdir / "bad")])
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() routes SIGTERM to its stop flag
    assert code == EXIT_CONFIGURATION_ERROR
    assert field in termination.read_text()


def test_bad_data_exits_65_naming_file_and_line(workdir: Path) -> None:
    data = workdir / "broken.jsonl"
    data.write_text('{"text": "fine"}\n{"text": "fine"}\n{"text": 42}\n')
    termination = workdir / "termination-data"
    done = run_trainer(
        llm_run_config(workdir / "model", data),
        workdir / "bad-data",
        TENSORONE_TERMINATION_LOG=str(termination),
    )
    assert done.returncode == EXIT_DATA_ERROR
    assert f"{data}:3: field 'text' must be a non-empty string" in termination.read_text()


def test_early_stopping_ends_the_run_when_validation_stops_improving(workdir: Path) -> None:
    # Random letters: nothing generalises from training to validation beyond letter frequencies.
    rng = random.Random(0)
    noise = workdir / "noise.jsonl"
    noise.write_text(
        "".join(
            json.dumps({"text": "".join(rng.choices(string.ascii_lowercase + " ", k=120))}) + "\n"
            for _ in range(24)
        )
    )
    config = llm_run_config(
        workdir / "model",
        noise,
        epochs=4,
        learning_rate=0.1,
        lr_scheduler="constant",
        warmup_steps=0,
        validation_split=0.25,
        save_every_steps=1,  # evaluate after every step
        early_stopping_patience=1,
    )
    done = run_trainer(config, workdir / "early")
    assert done.returncode == 0, done.stderr
    assert "early stopping: no better evaluation loss for 1 evaluations" in done.stderr
    status = json.loads((workdir / "early" / "status.json").read_text())
    evals = [p["evalLoss"] for p in read_metrics(workdir / "early") if "evalLoss" in p]
    assert evals[-1] >= min(evals[:-1])  # the last evaluation did not improve on the best
    assert max(step_losses(workdir / "early")) < status["progress"]["totalSteps"]
    assert (workdir / "early" / "adapter" / "adapter_model.safetensors").is_file()


def test_full_fine_tuning_learns_and_writes_the_whole_model(workdir: Path) -> None:
    config = llm_run_config(workdir / "model", workdir / "data.jsonl", epochs=1, learning_rate=0.003)
    config["config"]["strategy"] = "full"
    done = run_trainer(config, workdir / "full-ft")
    assert done.returncode == 0, done.stderr
    losses = list(step_losses(workdir / "full-ft").values())
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    assert (workdir / "full-ft" / "model" / "model.safetensors").is_file()
    assert (workdir / "full-ft" / "model" / "tokenizer.json").is_file()
