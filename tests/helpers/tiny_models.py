"""Tiny models, datasets and run configs for trainer tests, system tests and the demo.

Everything is built in the test's temporary folder in seconds: a random-initialised 2-layer Llama with a
byte-level BPE tokenizer trained on real text (``tensorone_trainer.tiny``), small learnable text datasets in
every supported format, and a tiny YOLO dataset of coloured rectangles.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# A learnable corpus: a few sentences repeated, so a tiny model's loss clearly falls within a few dozen steps.
LEARNABLE_SENTENCES = [
    "Beautiful is better than ugly.",
    "Explicit is better than implicit.",
    "Simple is better than complex.",
    "Complex is better than complicated.",
    "Flat is better than nested.",
    "Sparse is better than dense.",
    "Readability counts.",
    "Errors should never pass silently.",
]


def build_tiny_llama(out_dir: Path, *, hidden_size: int = 32, vocab_size: int = 320) -> Path:
    """A random-init 2-layer Llama + tokenizer (trained on the standard library's text) saved to ``out_dir``."""
    from tensorone_trainer.tiny import build_tiny_llama as build

    return build(out_dir, hidden_size=hidden_size, vocab_size=vocab_size, num_heads=4, max_positions=128)


def learnable_texts(n: int) -> list[str]:
    return [
        " ".join(LEARNABLE_SENTENCES[(i + j) % len(LEARNABLE_SENTENCES)] for j in range(3)) for i in range(n)
    ]


def write_text_dataset(path: Path, n: int = 32, fmt: str = "jsonl", shape: str = "text") -> Path:
    """Write ``n`` records of the given shape (text | prompt | messages) in the given format."""
    texts = learnable_texts(n)
    if shape == "text":
        rows: list[dict[str, Any]] = [{"text": t} for t in texts]
    elif shape == "prompt":
        rows = [{"prompt": t.split(".")[0] + ".", "completion": t.split(".", 1)[1].strip()} for t in texts]
    else:
        rows = [
            {"messages": [{"role": "user", "content": t.split(".")[0]}, {"role": "assistant", "content": t}]}
            for t in texts
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(fmt)
    return path


def llm_run_config(model_dir: Path, dataset: Path, *, fmt: str = "jsonl", **training: Any) -> dict[str, Any]:
    """A run config (``job.json`` shape) for LoRA on the tiny model; ``training`` overrides training keys."""
    settings = {
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 0.03,
        "max_seq_length": 48,
        "warmup_steps": 2,
        "seed": 7,
    }
    settings.update(training)
    return {
        "jobId": "job_test",
        "modelType": "llm",
        "dataset": {"path": str(dataset), "format": fmt},
        "checkpoint": {"keepLast": 3},
        "config": {
            "baseModel": str(model_dir),
            "strategy": "lora",
            "parameters": {"rank": 4, "dropout": 0.1},
            "training": settings,
        },
    }


def trainer_env(**extra: str) -> dict[str, str]:
    """The environment of a trainer subprocess: offline, one thread, deterministic."""
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "YOLO_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONHASHSEED": "0",
        }
    )
    env.update(extra)
    return env


def trainer_command(config: Path, output: Path, *extra: str, nproc: int = 1) -> list[str]:
    """``python -m tensorone_trainer run …``, under torchrun (through the graceful launcher) when ``nproc`` > 1."""
    if nproc > 1:
        launcher = [
            sys.executable, "-m", "tensorone_trainer.launch", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "tensorone_trainer",
        ]  # fmt: skip
    else:
        launcher = [sys.executable, "-m", "tensorone_trainer"]
    return [*launcher, "run", "--config", str(config), "--output", str(output), *extra]


def run_trainer(
    config: dict[str, Any] | Path, output: Path, *extra: str, nproc: int = 1, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the trainer to completion and return the finished process (stdout/stderr captured)."""
    if isinstance(config, dict):
        path = output.parent / f"{output.name}-job.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config), encoding="utf-8")
        config = path
    return subprocess.run(
        trainer_command(config, output, *extra, nproc=nproc),
        env=trainer_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_metrics(output: Path) -> list[dict[str, Any]]:
    lines = (output / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def step_losses(output: Path) -> dict[int, float]:
    """The training loss of every optimizer step, from ``metrics.jsonl``."""
    return {p["step"]: p["loss"] for p in read_metrics(output) if "loss" in p}


def write_yolo_dataset(root: Path, n_train: int = 8, n_val: int = 4, imgsz: int = 64) -> Path:
    """A YOLO-format dataset of coloured rectangles on grey (two classes) and its ``data.yaml``: the demo's."""
    from tensorone.demo.assets import write_shapes_dataset

    return write_shapes_dataset(root, n_train=n_train, n_val=n_val, size=imgsz)


def stop_with_sigterm_after_step(
    config: dict[str, Any], output: Path, step: int, nproc: int = 1, **env: str
) -> int:
    """Start the trainer, send SIGTERM once ``step`` steps are logged, expect exit 0; the last step logged."""
    path = output.parent / f"{output.name}-job.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        trainer_command(path, output, nproc=nproc),
        env=trainer_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if (output / "metrics.jsonl").is_file() and len(step_losses(output)) >= step:
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return max(step_losses(output))
