"""Useful (non-pad) tokens/s of LoRA on data of realistic, uneven length: the trainer packing vs the trainer
padding vs a plain PyTorch + peft loop, in one run, and whether packing keeps the padded run's loss curve.

Lengths come from the bundled docs corpus (the demo's: the Zen of Python and standard-library docstrings,
median ~50 tokens, a long tail to 512), as prompt/completion records (first sentence as prompt). Batch 8
examples, max length 512. The trainer runs the product loop in-process with ``optimization.packing`` true and
false; the plain loop is what a person writes with transformers + peft: the same examples in the same order,
each batch padded to its longest example (``DataCollatorForSeq2Seq``). Every run counts the real tokens of the
steps it timed itself, from the examples; nothing is taken from the trainer's own throughput report.

    python -m benchmarks.trainer_packing [--steps 12 --warmup 2 --batch 8 --seq 512]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch

from benchmarks.results import Result
from tensorone.api.trainer_config import LlmRunConfig
from tensorone_trainer.checkpoints import CheckpointStore
from tensorone_trainer.context import RunContext
from tensorone_trainer.data.text import Example, epoch_order
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.llm import LlmTrainer
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.reporting.jsonl import JsonlSink
from tensorone_trainer.signals import StopRequest
from tensorone_trainer.tiny import build_tiny_llama, real_text_corpus

SEED = 7
LEARNING_RATE = 1e-3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="no", choices=["no", "bf16"])
    parser.add_argument("--intermediate", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=2048, help="embedding rows (the tokenizer is smaller)")
    parser.add_argument("--seq", type=int, default=512, help="max_seq_length")
    parser.add_argument("--batch", type=int, default=8, help="examples per step")
    parser.add_argument("--steps", type=int, default=12, help="measured steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="the three runs alternate; each step's fastest round counts"
    )
    return parser.parse_args(argv)


def write_dataset(path: Path, examples_needed: int) -> None:
    """Prompt/completion records from the docs corpus' paragraphs (shuffled, repeated as needed)."""
    paragraphs = real_text_corpus()
    rows: list[str] = []
    rng = random.Random(0)
    while len(rows) < examples_needed:
        for text in rng.sample(paragraphs, len(paragraphs)):
            head, sep, rest = text.partition(". ")
            if not sep or not rest.strip():  # one sentence: its first words are the prompt
                words = text.split()
                cut = max(1, min(4, len(words) // 3))
                head, rest = " ".join(words[:cut]), " ".join(words[cut:])
            rows.append(json.dumps({"prompt": head.strip() + ".", "completion": " " + rest.strip()}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _run_config(args: argparse.Namespace, model_dir: Path, data: Path, packing: bool) -> LlmRunConfig:
    return LlmRunConfig.model_validate(
        {
            "modelType": "llm",
            "dataset": {"path": str(data), "format": "jsonl"},
            "config": {
                "baseModel": str(model_dir),
                # No dropout: the three runs' loss curves are then comparable step by step.
                "parameters": {"rank": args.rank, "dropout": 0.0},
                "training": {"epochs": 1, "batch_size": args.batch, "max_seq_length": args.seq,
                             "learning_rate": LEARNING_RATE, "warmup_steps": 2, "seed": SEED},
                "optimization": {"packing": packing, "mixed_precision": args.precision},
            },
        }
    )  # fmt: skip


def _step_examples(examples: list[Example], batch: int, steps: int) -> list[list[Example]]:
    """The examples of each step of epoch 0, in the trainer's order (a function of seed and epoch)."""
    order = epoch_order(len(examples), SEED, 0)
    return [[examples[i] for i in order[s * batch : (s + 1) * batch]] for s in range(steps)]


def _figures(
    step_examples: list[list[Example]],
    ends: list[tuple[float, float]],
    losses: list[float],
    warmup: int,
    width: list[int],
) -> dict[str, Any]:
    """One run's measured steps: useful tokens and (wall, CPU) seconds of each, cells computed, loss curve."""
    return {
        "useful": [sum(len(e.input_ids) for e in step) for step in step_examples[warmup:]],
        "seconds": [
            (ends[i][0] - ends[i - 1][0], ends[i][1] - ends[i - 1][1]) for i in range(warmup, len(ends))
        ],
        "useful_share": sum(sum(len(e.input_ids) for e in s) for s in step_examples[warmup:])
        / sum(width[warmup:]),
        "losses": losses,
    }


def _combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one run combined: each step's fastest time over the rounds (the same step does the same work
    every round, so the minimum filters out other processes' bursts on a shared machine)."""
    useful = sum(rounds[0]["useful"])
    wall = sum(min(r["seconds"][i][0] for r in rounds) for i in range(len(rounds[0]["seconds"])))
    cpu = sum(min(r["seconds"][i][1] for r in rounds) for i in range(len(rounds[0]["seconds"])))
    return {
        **rounds[0],
        "useful_tokens_per_second": useful / wall,
        "useful_tokens_per_cpu_second": useful / cpu,
    }


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def run_trainer(
    args: argparse.Namespace, model_dir: Path, data: Path, work: Path, packing: bool
) -> dict[str, Any]:
    """The product loop in-process, stopped after warmup + steps; each step's end taken as it reports."""
    device = torch.device(args.device)
    stop = StopRequest()
    total = args.warmup + args.steps
    ends: list[tuple[float, float]] = []

    class StopAfter(Reporter):
        def step(self, **kwargs: Any) -> None:
            ends.append(_clock())  # the loop calls this as soon as a step is done
            super().step(**kwargs)
            if kwargs["step"] >= total:
                stop.request()

    ctx = RunContext(
        output_dir=work,
        store=CheckpointStore(work / "checkpoints", keep_last=1),
        resume_from=None,
        merge=False,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=device),
        stop=stop,
        attempt=None,
        make_reporter=lambda **kw: StopAfter([JsonlSink(work)], device=device, **kw),
        load_history=lambda upto: [],
    )
    trainer = LlmTrainer(_run_config(args, model_dir, data, packing), ctx)
    if trainer.packing is not packing:
        raise SystemExit(f"the trainer chose packing={trainer.packing}, the benchmark asked for {packing}")
    steps = _step_examples(trainer.train_set, args.batch, total)
    # What each step really computes: the batch tensor's cells (rows x width), pad included.
    width = [trainer._train_batch(examples)["input_ids"].numel() for examples in steps]
    trainer.train()
    points = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    losses = [p["loss"] for p in points if "loss" in p]
    if len(losses) < total:
        raise SystemExit(f"dataset too small: {len(losses)} steps < {total}")
    return {**_figures(steps, ends, losses, args.warmup, width), "examples": trainer.train_set}


def run_plain(args: argparse.Namespace, model_dir: Path, examples: list[Example]) -> dict[str, Any]:
    """The baseline: transformers + peft by hand, batches padded to their longest example, same order."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, get_scheduler

    torch.manual_seed(SEED)
    device = torch.device(args.device)
    # Like the trainer: a bf16 base for LoRA on a GPU, fp32 on CPU.
    half = args.precision == "bf16" and device.type == "cuda"
    tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
    dtype = torch.bfloat16 if half else torch.float32
    model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    model.to(device)
    model = get_peft_model(
        model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, task_type="CAUSAL_LM")
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE)
    total = args.warmup + args.steps
    steps = _step_examples(examples, args.batch, total)
    scheduler = get_scheduler(
        "linear", optimizer, num_warmup_steps=2, num_training_steps=len(examples) // args.batch
    )
    collator: Any = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    ends: list[tuple[float, float]] = []
    losses: list[float] = []
    width: list[int] = []
    model.train()
    for step in steps:
        batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in step])
        width.append(int(batch["input_ids"].numel()))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=half):
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))  # a real loop logs the loss: same synchronisation as the trainer
        ends.append(_clock())
    return _figures(steps, ends, losses, args.warmup, width)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The three runs alternately for ``args.rounds`` rounds, each step's fastest round kept."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_llama(
            root / "model",
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
            intermediate_size=args.intermediate,
            max_positions=max(args.seq, 128),
            min_vocab_size=args.vocab,
            initializer_range=0.02,
        )
        data = root / "data.jsonl"
        write_dataset(data, (args.warmup + args.steps + 1) * args.batch)
        rounds: dict[str, list[dict[str, Any]]] = {"packed": [], "padded": [], "plain": []}
        for index in range(args.rounds):
            model = root / "model"
            rounds["packed"].append(run_trainer(args, model, data, root / f"packed-{index}", True))
            rounds["padded"].append(run_trainer(args, model, data, root / f"padded-{index}", False))
            # The plain loop gets the trainer's tokenized examples: the same tokens, only the loop differs.
            rounds["plain"].append(run_plain(args, model, rounds["padded"][0]["examples"]))
    best = {who: _combine(runs) for who, runs in rounds.items()}
    packed, padded = best["packed"], best["padded"]
    gap = max(abs(a - b) / abs(b) for a, b in zip(packed["losses"], padded["losses"], strict=True))
    return {**best, "loss_gap": gap}


QUICK = ["--steps", "6", "--warmup", "2", "--rounds", "3"]


def run(quick: bool) -> list[Result]:
    """The figures for ``python -m benchmarks`` (12 measured steps, 3 rounds; 6 when ``quick``)."""
    args = parse_args(QUICK if quick else [])
    f = measure(args)
    packed, padded, plain = f["packed"], f["padded"], f["plain"]
    setting = (
        f"{args.device}, LoRA r={args.rank}, docs-corpus lengths, batch {args.batch} examples, max length {args.seq}, "
        f"{args.steps} steps, each step's best of {args.rounds} rounds; useful share of computed tokens: packed "
        f"{packed['useful_share']:.0%}, padded {padded['useful_share']:.0%}; per CPU-second of the process "
        f"(robust to a shared machine): packed {packed['useful_tokens_per_cpu_second']:.0f}, padded "
        f"{padded['useful_tokens_per_cpu_second']:.0f}, plain {plain['useful_tokens_per_cpu_second']:.0f}"
    )
    name = "trainer_packing"
    return [
        Result(name, "useful tokens/s, packing", packed["useful_tokens_per_second"], "tokens/s",
               "trainer, padded batches", padded["useful_tokens_per_second"], "ratio ≥ 2", setting),
        Result(name, "useful tokens/s, packing", packed["useful_tokens_per_second"], "tokens/s",
               "plain PyTorch + peft loop (padded)", plain["useful_tokens_per_second"]),
        Result(name, "useful tokens/s, padded batches", padded["useful_tokens_per_second"], "tokens/s",
               "plain PyTorch + peft loop (padded)", plain["useful_tokens_per_second"]),
        Result(name, "loss curve, packed vs padded: max relative gap", f["loss_gap"], "",
               target="≤ 1e-3", note="same examples each step; every step's training loss compared"),
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    f = measure(args)
    for who in ("packed", "padded", "plain"):
        print(
            f"{who:8} useful tokens/s {f[who]['useful_tokens_per_second']:10.0f}   "
            f"per CPU-second {f[who]['useful_tokens_per_cpu_second']:10.0f}   "
            f"useful share {f[who]['useful_share']:.0%}   losses {[round(x, 4) for x in f[who]['losses']]}"
        )
    ratio = f["packed"]["useful_tokens_per_second"] / f["padded"]["useful_tokens_per_second"]
    print(f"packing / padded: {ratio:.2f}x (target >= 2); loss curve max relative gap {f['loss_gap']:.2e}")


if __name__ == "__main__":
    main()
