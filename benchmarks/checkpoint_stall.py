"""How long a checkpoint save blocks the training loop: background saves against synchronous ones, in one run.

The product loop (``LlmTrainer``) trains the same model on the same data twice, saving every ``--save-every``
steps: once with ``optimization.async_checkpoint`` off (the loop waits until the checkpoint is hashed, fsynced
and renamed into place) and once on (the loop waits only for the copy of its state to host memory, and for a
previous save still in flight). The stall is the time spent inside ``save_checkpoint``, per save; the ratio is
background / synchronous. Full fine-tuning by default, so that a save carries the weights and both AdamW moments
(a LoRA save is tiny). Also prints the whole run's wall time both ways. Training uses one core fewer than the
machine has (``--threads``), as on a GPU node where the host's cores are free during the steps: with every core
training, the writer oversubscribes them and the run gets slower (on 2 cores, 2026-12-01: 7.7 s against 4.0 s
synchronous), which is why an unset ``async_checkpoint`` stays off there. Asserts nothing.

    python -m benchmarks.checkpoint_stall [--hidden 384 --layers 6 --steps 12 --save-every 2 --strategy full]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch

from benchmarks.results import Result
from benchmarks.trainer_throughput import write_dataset
from tensorone.api.trainer_config import LlmRunConfig
from tensorone_trainer.checkpoints import CheckpointStore
from tensorone_trainer.context import RunContext
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.llm import LlmTrainer
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.signals import StopRequest
from tensorone_trainer.tiny import build_tiny_llama


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--strategy", default="full", choices=["full", "lora"])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--save-every", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, len(os.sched_getaffinity(0)) - 1),
        help="torch intra-op threads for training (default: one core left for the writer)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs per side, alternating which goes first (shared machines)"
    )
    return parser.parse_args(argv)


def run_loop(args: argparse.Namespace, root: Path, *, background: bool, index: int) -> dict[str, Any]:
    """One run of the product loop; the seconds each ``save_checkpoint`` call blocked it, and the wall time."""
    work = root / f"run-{'async' if background else 'sync'}-{index}"
    run = LlmRunConfig.model_validate(
        {
            "modelType": "llm",
            "dataset": {"path": str(root / "data.jsonl"), "format": "jsonl"},
            "config": {
                "baseModel": str(root / "model"),
                "strategy": args.strategy,
                "training": {"epochs": 1, "batch_size": args.batch, "max_seq_length": args.seq,
                             "learning_rate": 1e-4, "warmup_steps": 1, "save_every_steps": args.save_every},
                "optimization": {"async_checkpoint": background},
            },
        }
    )  # fmt: skip
    device = torch.device(args.device)
    stop = StopRequest()

    class StopAfter(Reporter):
        def step(self, **kwargs: Any) -> None:
            super().step(**kwargs)
            if kwargs["step"] >= args.steps:
                stop.request()

    ctx = RunContext(
        output_dir=work,
        store=CheckpointStore(work / "checkpoints", keep_last=2),
        resume_from=None,
        merge=False,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=device),
        stop=stop,
        attempt=None,
        make_reporter=lambda **kw: StopAfter([], device=device, **kw),
        load_history=lambda upto: [],
    )
    trainer = LlmTrainer(run, ctx)
    stalls: list[float] = []
    waits: list[float] = []
    save = trainer.save_checkpoint

    def timed_save(*a: Any, **kw: Any) -> None:
        began = time.perf_counter()
        save(*a, **kw)
        stalls.append(time.perf_counter() - began)
        waits.append(trainer.writer.waited_seconds)

    trainer.save_checkpoint = timed_save  # type: ignore[method-assign]
    began = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - began
    manifests = ctx.store.manifests()
    return {
        "stalls": stalls,
        "waits": waits,
        "wall": wall,
        "bytes": manifests[-1].size_bytes if manifests else 0,
        "params": sum(p.numel() for p in trainer.model.parameters()),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_llama(
            root / "model",
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=8,
            max_positions=max(args.seq, 128),
            min_vocab_size=args.vocab,
            initializer_range=0.02,
        )
        write_dataset(root / "data.jsonl", (args.steps + 2) * args.batch * args.seq)
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for index in range(args.rounds):
            for background in (False, True) if index % 2 == 0 else (True, False):
                runs[background].append(run_loop(args, root, background=background, index=index))
    # Every save's stall counts; the wall time is each side's best run (the least disturbed by neighbours).
    return {
        name: {
            "stalls": [s for r in runs[background] for s in r["stalls"]],
            "waits": [w for r in runs[background] for w in r["waits"]],
            "wall": min(r["wall"] for r in runs[background]),
            "bytes": runs[background][0]["bytes"],
            "params": runs[background][0]["params"],
        }
        for name, background in (("sync", False), ("async", True))
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


QUICK = ["--steps", "6", "--save-every", "2", "--rounds", "1"]


def run(quick: bool) -> list[Result]:
    """The figures for ``python -m benchmarks`` (defaults of this script; 6 steps when ``quick``)."""
    args = parse_args(QUICK if quick else [])
    figures = measure(args)
    sync, background = figures["sync"], figures["async"]
    setting = (
        f"{args.device}, {args.strategy}, {sync['params'] / 1e6:.1f}M params, checkpoint "
        f"{sync['bytes'] / 1e6:.0f} MB, a save every {args.save_every} steps, {len(sync['stalls'])} saves a side,"
        f" {args.threads} training thread(s)"
    )
    baseline = "synchronous save, same run"
    return [
        Result("checkpoint_stall", "loop blocked per save (median)", _median(background["stalls"]), "s",
               baseline, _median(sync["stalls"]), "< 1 s", setting),
        Result("checkpoint_stall", "loop blocked per save (max)", max(background["stalls"]), "s",
               baseline, max(sync["stalls"]),
               note=f"of which waiting for the previous save: max {max(background['waits']):.2f} s"),
        Result("checkpoint_stall", f"run wall time ({args.steps} steps)", background["wall"], "s", baseline,
               sync["wall"], note="best run a side; one core left free for the writer"),
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = measure(args)
    sync, background = figures["sync"], figures["async"]
    print(
        f"device {args.device}, {args.strategy}, {sync['params'] / 1e6:.1f}M params, checkpoint "
        f"{sync['bytes'] / 1e6:.1f} MB, a save every {args.save_every} of {args.steps} steps, {args.rounds} run(s)"
        f" a side, {args.threads} training thread(s)"
    )
    print(f"{'':32}{'background':>12}{'synchronous':>13}{'ratio':>8}")
    for label, pick in (("loop blocked per save, median", _median), ("loop blocked per save, max", max)):
        a, s = pick(background["stalls"]), pick(sync["stalls"])
        print(f"{label + ' (s)':32}{a:12.3f}{s:13.3f}{a / s:8.3f}")
    print(f"{'of it, waiting for previous (max)':32}{max(background['waits']):12.3f}")
    a, s = background["wall"], sync["wall"]
    print(f"{'run wall time, best (s)':32}{a:12.2f}{s:13.2f}{a / s:8.3f}")


if __name__ == "__main__":
    main()
