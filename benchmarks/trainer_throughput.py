"""Trainer tokens/s against a plain PyTorch + peft loop on the same model, batch and settings, in one run.

Also measures time to first step, checkpoint time (the background write), the loop's stall per checkpoint and
checkpoint size, and with ``--compile-too`` the trainer with ``optimization.compile`` on against itself without
it (its first steps, in the warmup, include compilation). Prints figures and ratios; asserts
nothing (timings belong in reports, not in tests). CPU by default; ``--device cuda --precision bf16`` on a GPU
(see gpu_check.sh, which adds peak memory and MFU).

    python -m benchmarks.trainer_throughput [--hidden 256 --layers 4 --seq 256 --batch 8 --steps 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import tempfile
import time
from datetime import datetime
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
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.llm import LlmTrainer
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.reporting.jsonl import JsonlSink
from tensorone_trainer.signals import StopRequest
from tensorone_trainer.tiny import build_tiny_llama, real_text_corpus

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=None)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=2048, help="embedding rows (the tokenizer is smaller)")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="measured steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU dense bf16 peak for MFU")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternate baseline and trainer; best round counts"
    )
    parser.add_argument(
        "--compile-too", action="store_true", help="also run the trainer with torch.compile (ratio to eager)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def lora_config(rank: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, task_type="CAUSAL_LM")


def write_dataset(path: Path, tokens_needed: int) -> None:
    corpus = real_text_corpus()
    rows, size = [], 0
    while size < tokens_needed * 6:  # ~4-6 characters per token with the small tokenizer: overshoot
        for text in corpus:
            rows.append(json.dumps({"text": text}))
            size += len(text)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def run_trainer(
    args: argparse.Namespace, model_dir: Path, data: Path, work: Path, *, compile_model: bool = False
) -> dict[str, float]:
    """The product loop, in-process, stopped after warmup + steps (its checkpoint-on-stop timed separately)."""
    run = LlmRunConfig.model_validate(
        {
            "modelType": "llm",
            "dataset": {"path": str(data), "format": "jsonl"},
            "config": {
                "baseModel": str(model_dir),
                "parameters": {"rank": args.rank},
                "training": {"epochs": 1, "batch_size": args.batch, "max_seq_length": args.seq,
                             "learning_rate": 1e-4, "warmup_steps": 2},
                "optimization": {"mixed_precision": args.precision,
                                 "gradient_checkpointing": args.gradient_checkpointing,
                                 "compile": compile_model},
            },
        }
    )  # fmt: skip
    device = torch.device(args.device)
    stop = StopRequest()
    store = CheckpointStore(work / "checkpoints", keep_last=1)
    total = args.warmup + args.steps

    class StopAfter(Reporter):
        def step(self, **kwargs: Any) -> None:
            super().step(**kwargs)
            if kwargs["step"] >= total:
                stop.request()

    ctx = RunContext(
        output_dir=work,
        store=store,
        resume_from=None,
        merge=False,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=device),
        stop=stop,
        attempt=None,
        make_reporter=lambda **kw: StopAfter([JsonlSink(work)], device=device, **kw),
        load_history=lambda upto: [],
    )
    began = time.time()
    trainer = LlmTrainer(run, ctx)
    original_save = store.save
    timings: dict[str, float] = {}

    def timed_save(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        manifest = original_save(*a, **kw)
        timings["checkpoint_seconds"] = time.perf_counter() - start
        timings["checkpoint_bytes"] = manifest.size_bytes
        return manifest

    store.save = timed_save  # type: ignore[method-assign]
    save_checkpoint = trainer.save_checkpoint

    def timed_save_checkpoint(*a: Any, **kw: Any) -> None:
        # How long the loop itself is blocked (the write above runs in the background).
        start = time.perf_counter()
        save_checkpoint(*a, **kw)
        timings["checkpoint_stall_seconds"] = time.perf_counter() - start

    trainer.save_checkpoint = timed_save_checkpoint  # type: ignore[method-assign]
    trainer.train()
    timings["checkpoint_in_background"] = float(trainer.writer.background)
    points = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    times = {p["step"]: datetime.fromisoformat(p["time"]).timestamp() for p in points if "loss" in p}
    if max(times) < total:
        raise SystemExit(f"dataset too small: {max(times)} steps < {total}")
    # Median step interval (point to point, so reporting overhead counts): robust to noisy shared machines.
    intervals = [times[s] - times[s - 1] for s in range(args.warmup + 1, total + 1)]
    return {
        "tokens_per_second": args.batch * args.seq / statistics.median(intervals),
        "time_to_first_step": times[1] - began,
        "peak_memory_bytes": float(torch.cuda.max_memory_allocated()) if device.type == "cuda" else math.nan,
        **timings,
    }


def run_plain(args: argparse.Namespace, model_dir: Path) -> dict[str, float]:
    """The baseline: the loop a person writes with transformers + peft, same model, batch, length, numerics."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, get_scheduler

    device = torch.device(args.device)
    began = time.time()
    on_gpu = device.type == "cuda"  # like the trainer: mixed precision only on a GPU, fp32 on CPU
    dtype = torch.bfloat16 if args.precision == "bf16" and on_gpu else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).to(device)  # type: ignore[arg-type]
    n_params = sum(p.numel() for p in model.parameters())
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, lora_config(args.rank))
    if args.gradient_checkpointing:
        model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scheduler = get_scheduler(
        "linear", optimizer, num_warmup_steps=2, num_training_steps=args.warmup + args.steps
    )
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    autocast = args.precision in ("bf16", "fp16") and on_gpu
    step_times: list[float] = []
    first_step = math.nan
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, min(vocab, 300), (args.batch, args.seq), generator=generator).to(device)
        start = time.perf_counter()
        model.train()
        dtype_ac = torch.bfloat16 if args.precision == "bf16" else torch.float16
        with torch.autocast(device.type, dtype=dtype_ac, enabled=autocast):
            loss = model(input_ids=ids, labels=ids, attention_mask=torch.ones_like(ids)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # a real loop logs the loss: same synchronisation as the trainer
        step_times.append(time.perf_counter() - start)
        if step == 0:
            first_step = time.time() - began
    return {
        "tokens_per_second": args.batch * args.seq / statistics.median(step_times[args.warmup :]),
        "time_to_first_step": first_step,
        "peak_memory_bytes": float(torch.cuda.max_memory_allocated()) if device.type == "cuda" else math.nan,
        "params": float(n_params),
    }


def peak_tflops(args: argparse.Namespace) -> float | None:
    if args.peak_tflops:
        return float(args.peak_tflops)
    if args.device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline and trainer alternately for ``args.rounds`` rounds, each side's best round kept."""
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
        write_dataset(root / "data.jsonl", (args.warmup + args.steps + 2) * args.batch * args.seq)
        plain: dict[str, float] = {}
        trainer: dict[str, float] = {}
        compiled: dict[str, float] = {}
        for index in range(args.rounds):
            result = run_plain(args, root / "model")
            if not plain or result["tokens_per_second"] > plain["tokens_per_second"]:
                plain = result
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            result = run_trainer(args, root / "model", root / "data.jsonl", root / f"trainer-{index}")
            if not trainer or result["tokens_per_second"] > trainer["tokens_per_second"]:
                trainer = result
            if args.compile_too:
                result = run_trainer(
                    args, root / "model", root / "data.jsonl", root / f"compiled-{index}", compile_model=True
                )
                if not compiled or result["tokens_per_second"] > compiled["tokens_per_second"]:
                    compiled = result
        from transformers import AutoConfig

        n_params = sum(
            p.numel()
            for p in __import__("transformers")
            .AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(root / "model")))
            .parameters()
        )
    ratio = trainer["tokens_per_second"] / plain["tokens_per_second"]
    figures: dict[str, Any] = {"trainer": trainer, "plain": plain, "ratio": ratio, "params": n_params}
    if compiled:
        figures["trainer_compiled"] = compiled
        figures["compile_ratio"] = compiled["tokens_per_second"] / trainer["tokens_per_second"]
    return figures


QUICK = ["--steps", "5", "--warmup", "2", "--rounds", "1"]
BENCH = ["--compile-too"]


def run(quick: bool) -> list[Result]:
    """The figures for ``python -m benchmarks`` (defaults of this script; 5 steps, one round when ``quick``)."""
    args = parse_args([*BENCH, *QUICK] if quick else BENCH)
    figures = measure(args)
    trainer, plain = figures["trainer"], figures["plain"]
    setting = (
        f"{args.device}, {figures['params'] / 1e6:.1f}M params, batch {args.batch} x seq {args.seq}, "
        f"{args.steps} steps, best of {args.rounds}"
    )
    baseline = "plain PyTorch + peft loop"
    extra = []
    if "trainer_compiled" in figures:
        compiled = figures["trainer_compiled"]
        extra.append(
            Result("trainer_throughput", "tokens/s, torch.compile", compiled["tokens_per_second"], "tokens/s",
                   "the trainer without compile", trainer["tokens_per_second"],
                   note="optimization.compile; compilation falls in the warmup steps")
        )  # fmt: skip
    return [
        Result("trainer_throughput", "tokens/s", trainer["tokens_per_second"], "tokens/s", baseline,
               plain["tokens_per_second"], "ratio ≥ 0.95", setting),
        Result("trainer_throughput", "time to first step", trainer["time_to_first_step"], "s", baseline,
               plain["time_to_first_step"]),
        Result("trainer_throughput", "checkpoint time", trainer.get("checkpoint_seconds", math.nan), "s",
               note=f"{trainer.get('checkpoint_bytes', 0) / 1e6:.2f} MB: adapter + optimizer + RNG + state;"
                    + (" written in the background" if trainer.get("checkpoint_in_background")
                     else " written synchronously (every core training)")),
        Result("trainer_throughput", "loop blocked by a checkpoint", trainer.get("checkpoint_stall_seconds", math.nan),
               "s", target="< 1 s", note="copy of the state; see checkpoint_stall"),
        *extra,
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = measure(args)
    trainer, plain, ratio, n_params = (figures[k] for k in ("trainer", "plain", "ratio", "params"))
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}), "
          f"precision {args.precision}, model {n_params / 1e6:.1f}M params, batch {args.batch} x seq {args.seq}, "
          f"LoRA r={args.rank}, {args.steps} measured steps after {args.warmup}")  # fmt: skip
    print(f"{'':28}{'trainer':>14}{'plain loop':>14}{'ratio':>8}")
    print(f"{'tokens/s':28}{trainer['tokens_per_second']:14.0f}{plain['tokens_per_second']:14.0f}{ratio:8.3f}"
          f"   (target >= 0.95)")  # fmt: skip
    print(
        f"{'time to first step (s)':28}{trainer['time_to_first_step']:14.2f}{plain['time_to_first_step']:14.2f}"
    )
    if args.device == "cuda":
        print(
            f"{'peak memory (GB)':28}{trainer['peak_memory_bytes'] / 1e9:14.2f}{plain['peak_memory_bytes'] / 1e9:14.2f}"
        )
    where = "in the background" if trainer.get("checkpoint_in_background") else "synchronously"
    print(f"checkpoint: {trainer.get('checkpoint_seconds', math.nan):.3f} s to write {where}, loop "
          f"blocked {trainer.get('checkpoint_stall_seconds', math.nan):.3f} s, "
          f"{trainer.get('checkpoint_bytes', 0) / 1e6:.2f} MB (adapter + optimizer + RNG + state)")  # fmt: skip
    if "trainer_compiled" in figures:
        compiled = figures["trainer_compiled"]["tokens_per_second"]
        print(
            f"{'tokens/s, torch.compile':28}{compiled:14.0f}{'(eager trainer)':>14}{figures['compile_ratio']:8.3f}"
        )
    peak = peak_tflops(args)
    if peak:
        # 6·N FLOPs per token is the usual convention (forward 2N + backward 4N); LoRA skips the frozen
        # weights' gradient GEMMs, so 4·N is the work it really does. Both are printed.
        for label, factor in (("MFU (6N)", 6), ("MFU (4N, LoRA work)", 4)):
            for who in ("trainer", "plain"):
                figures[f"{label} {who}"] = (
                    factor * n_params * figures[who]["tokens_per_second"] / (peak * 1e12)
                )
            print(f"{label:28}{figures[f'{label} trainer']:14.1%}{figures[f'{label} plain']:14.1%}"
                  f"   (peak {peak:g} TFLOP/s)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(_no_nan(figures), indent=2))


def _no_nan(value: Any) -> Any:
    """Strict JSON: figures that do not apply (NaN, e.g. GPU memory on CPU) become null."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


if __name__ == "__main__":
    main()
