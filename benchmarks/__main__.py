"""``python -m benchmarks`` (``make bench``): run every benchmark and write one table, ``benchmarks/RESULTS.md``.

Each benchmark measures its baseline in the same run; the table puts every figure beside it with the ratio and
the target where one exists, under the machine's facts and the date. ``gpu_check.sh`` runs only where torch sees
a GPU (the table says when it was skipped). A benchmark that fails is named in the notes and the rest still run.

    python -m benchmarks [--quick] [--quick-for trainer_throughput,yolo_throughput] [--only operator_scale]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.results import Result, render_report, render_table

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "sandbox_startup",
    "facade_latency",
    "operator_scale",
    "report_capacity",
    "trainer_throughput",
    "trainer_packing",
    "checkpoint_stall",
    "yolo_throughput",
)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def gpu_name() -> str | None:
    """The first GPU torch sees, or None."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.cuda.get_device_name()) if torch.cuda.is_available() else None


def machine_facts() -> list[tuple[str, str]]:
    cpu = platform.processor() or "unknown"
    memory = "unknown"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = next(
            line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")
        )
        kib = next(
            line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
        )
        memory = f"{int(kib) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu}, {affinity} cores usable ({os.cpu_count()} online)"),
        ("memory", memory),
        ("GPU", gpu_name() or "none"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("versions", ", ".join(f"{d} {_version(d)}" for d in ("torch", "transformers", "peft", "ultralytics", "kopf"))),
    ]  # fmt: skip


def run_gpu_check() -> list[Result]:
    """``gpu_check.sh`` (bf16 LoRA on a ~0.5B model on the GPU) read back from its JSON figures."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["bash", str(HERE / "gpu_check.sh")],
            check=True,
            env={**os.environ, "OUT": tmp, "PYTHON": sys.executable},
        )
        figures = json.loads((Path(tmp) / "gpu_check.json").read_text())
    trainer, plain = figures["trainer"], figures["plain"]
    baseline = "plain PyTorch + peft loop"
    results = [
        Result("gpu_check", "tokens/s (bf16, ~0.5B)", trainer["tokens_per_second"], "tokens/s", baseline,
               plain["tokens_per_second"], "ratio ≥ 0.95"),
        Result("gpu_check", "peak memory", (trainer["peak_memory_bytes"] or math.nan) / 1e9, "GB", baseline,
               (plain["peak_memory_bytes"] or math.nan) / 1e9),
    ]  # fmt: skip
    for key in ("MFU (6N)", "MFU (4N, LoRA work)"):
        if f"{key} trainer" in figures:
            results.append(
                Result(
                    "gpu_check",
                    key,
                    figures[f"{key} trainer"] * 100,
                    "%",
                    baseline,
                    figures[f"{key} plain"] * 100,
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="every benchmark in its quick form")
    parser.add_argument(
        "--quick-for", default="", help="comma-separated benchmarks to run in their quick form"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    quick_for = set(BENCHMARKS) if args.quick else set(filter(None, args.quick_for.split(",")))
    machine = machine_facts()  # before the runs: the date is the start of the run
    results: list[Result] = []
    notes: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        quick = name in quick_for
        sys.stderr.write(f"== {name}{' (quick)' if quick else ''}\n")
        began = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            run: Callable[[bool], list[Result]] = module.run
            results += run(quick)
            notes.append(
                f"`{name}`: {'quick' if quick else 'full'} form, {time.perf_counter() - began:.0f} s"
            )
        except Exception as e:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            notes.append(f"`{name}`: FAILED after {time.perf_counter() - began:.0f} s: {e!r}"[:300])
    gpu = gpu_name()
    if gpu is None:
        notes.append(
            "`gpu_check.sh`: skipped, no GPU visible to torch (run `bash benchmarks/gpu_check.sh` on one;"
            " the last run on a GPU is in `benchmarks/GPU_CHECK.md`)"
        )
    elif not args.only or "gpu_check" in args.only.split(","):
        began = time.perf_counter()
        try:
            results += run_gpu_check()
            notes.append(f"`gpu_check.sh`: on {gpu}, {time.perf_counter() - began:.0f} s")
        except (subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
            notes.append(f"`gpu_check.sh`: FAILED on {gpu}: {e!r}"[:300])
    notes.append(
        f"whole run: {time.perf_counter() - started:.0f} s; ratio = value / baseline (same run, same machine)"
    )
    args.out.write_text(render_report(results, machine, notes, "Benchmark results"))
    sys.stdout.write(render_table(results))
    sys.stdout.write(f"written to {args.out}\n")


if __name__ == "__main__":
    main()
