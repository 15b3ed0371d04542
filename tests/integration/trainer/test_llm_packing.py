"""Sequence packing through the command line: chat examples of uneven length are packed into full rows by
default, the status says so, the loss curve is the padded run's, and a run stopped at step k and resumed still
gives bitwise the same losses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tensorone.api.trainer_config import LlmRunConfig
from tensorone_trainer.checkpoints import CheckpointStore
from tensorone_trainer.context import RunContext
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.llm import LlmTrainer
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.signals import StopRequest
from tests.helpers.tiny_models import (
    LEARNABLE_SENTENCES,
    build_tiny_llama,
    llm_run_config,
    run_trainer,
    step_losses,
    stop_with_sigterm_after_step,
)

pytestmark = pytest.mark.slow


def _write_chat_dataset(path: Path, n: int) -> Path:
    """Chat records whose answers run from one to six sentences: uneven lengths, as real chat data has."""
    rows = []
    for i in range(n):
        answer = " ".join(LEARNABLE_SENTENCES[(i + j) % len(LEARNABLE_SENTENCES)] for j in range(1 + i % 6))
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Recite {i % 6 + 1}."},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packing")
    build_tiny_llama(root / "model")
    _write_chat_dataset(root / "chat.jsonl", n=48)
    return root


def _config(workdir: Path, **training: Any) -> dict[str, Any]:
    return llm_run_config(
        workdir / "model", workdir / "chat.jsonl", max_seq_length=96, save_every_steps=4, **training
    )


@pytest.fixture(scope="module")
def packed(workdir: Path) -> Path:
    done = run_trainer(_config(workdir), workdir / "packed")  # packing left unset: chosen automatically
    assert done.returncode == 0, done.stderr
    return workdir / "packed"


def test_uneven_chat_data_is_packed_by_default_and_the_status_says_so(packed: Path) -> None:
    status = json.loads((packed / "status.json").read_text())
    assert status["optimizations"]["packing"] is True
    assert status["optimizations"]["attention"] == "sdpa"
    assert status["optimizations"]["fusedOptimizer"] is False  # CPU: the fused kernels are CUDA-only
    assert status["optimizations"]["pinnedMemory"] is False
    losses = list(step_losses(packed).values())
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3


def test_packed_and_padded_runs_have_the_same_loss_curve(workdir: Path) -> None:
    outputs = {}
    for packing in (True, False):
        config = _config(workdir, epochs=1)
        # No dropout: its masks are drawn per tensor shape, and packed batches have other shapes.
        config["config"]["parameters"]["dropout"] = 0.0
        config["config"]["optimization"] = {"packing": packing}
        outputs[packing] = workdir / f"curve-packing-{packing}"
        done = run_trainer(config, outputs[packing])
        assert done.returncode == 0, done.stderr
        status = json.loads((outputs[packing] / "status.json").read_text())
        assert status["optimizations"]["packing"] is packing
    # Each step trains on the same examples with the same loss, only without padding: the same curve.
    assert step_losses(outputs[True]) == pytest.approx(step_losses(outputs[False]), rel=1e-5)


def test_packed_run_stopped_and_resumed_gives_the_same_losses(workdir: Path, packed: Path) -> None:
    output = workdir / "packed-stopped"
    stopped_at = stop_with_sigterm_after_step(_config(workdir), output, step=5)
    assert stopped_at < max(step_losses(packed)), "the run should have stopped early"
    resumed = run_trainer(_config(workdir), output, "--resume-from", "latest")
    assert resumed.returncode == 0, resumed.stderr
    assert "not an exact resume" not in resumed.stderr
    # Tolerance 0: the packed rows, their order and the data position are recomputed exactly on resume.
    assert step_losses(output) == step_losses(packed)


def test_two_workers_packed_stop_and_resume_give_the_same_losses(workdir: Path) -> None:
    config = _config(workdir, epochs=1)
    full = run_trainer(config, workdir / "ddp-packed-full", nproc=2)
    assert full.returncode == 0, full.stderr
    status = json.loads((workdir / "ddp-packed-full" / "status.json").read_text())
    assert status["optimizations"]["packing"] is True  # both ranks agreed

    output = workdir / "ddp-packed-stopped"
    stopped_at = stop_with_sigterm_after_step(config, output, step=2, nproc=2)
    assert stopped_at < max(step_losses(workdir / "ddp-packed-full"))
    resumed = run_trainer(config, output, "--resume-from", "latest", nproc=2)
    assert resumed.returncode == 0, resumed.stderr
    assert step_losses(output) == step_losses(workdir / "ddp-packed-full")


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_throughput_counts_only_real_tokens(workdir: Path, packing: bool) -> None:
    run = LlmRunConfig.model_validate(
        {**_config(workdir), "config": {**_config(workdir)["config"], "optimization": {"packing": packing}}}
    )
    device = torch.device("cpu")
    ctx = RunContext(
        output_dir=workdir / f"inproc-{packing}",
        store=CheckpointStore(workdir / f"inproc-{packing}" / "checkpoints", keep_last=1),
        resume_from=None,
        merge=False,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=device),
        stop=StopRequest(),
        attempt=None,
        make_reporter=lambda **kw: Reporter([], device=device, **kw),
        load_history=lambda upto: [],
    )
    trainer = LlmTrainer(run, ctx)
    examples = trainer.train_set[:5]
    batch = trainer._train_batch(examples)
    real = sum(len(e.input_ids) for e in examples)
    _, tokens = trainer._train_step([examples])
    assert tokens == real
    if packing:  # chat labels are the ids; packing ignores each example's first label and nothing else
        assert tokens == int((batch["labels"] != -100).sum()) + len(examples)
    else:  # the pad id never occurs in the data: every other cell is a real token
        assert real < batch["input_ids"].numel()  # there was padding to leave out
        assert tokens == int((batch["input_ids"] != int(trainer.tokenizer.pad_token_id)).sum())
