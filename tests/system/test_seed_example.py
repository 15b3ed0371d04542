"""The seed's Python example runs as written, with only the dataset id, the model (and the key) swapped in: its
``while job.status in ["pending", "running"]`` loop starts right after ``create``, so a new job must read
``pending`` (never ``queued``) and the loop must end at ``completed``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import Platform, learnable_records, put_language_assets

SEED_EXAMPLE = """\
from tensorone import TensorOneClient
import time

client = TensorOneClient(api_key="your-api-key")

job = client.training.jobs.create(
    name="Custom LLM Fine-tuning",
    model_type="llm",
    dataset_id="ds_your_dataset",
    config={
        "baseModel": "meta-llama/Llama-2-7b-hf",
        "strategy": "lora",
        "parameters": {"rank": 16, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
        "training": {"epochs": 3, "batch_size": 4, "learning_rate": 2e-4},
    },
    gpu_type="a100",
    max_workers=2,
)
print(f"Created job {job.id} with status {job.status}")

while job.status in ["pending", "running"]:
    job = client.training.jobs.get(job.id)
    print(f"Progress: {job.progress.percentage}%")
    time.sleep(30)

print(f"Training completed with status: {job.status}")
"""


def test_the_seed_python_example_runs_to_completed(
    platform: Platform, tiny_model: Path, tmp_path: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(16))
    dataset = platform.client.datasets.create(name="zen", format="jsonl", source=data)
    key = platform.client._transport.http.headers["Authorization"].removeprefix("Bearer ")
    script = (
        SEED_EXAMPLE.replace("ds_your_dataset", dataset.id)
        .replace("meta-llama/Llama-2-7b-hf", model)
        .replace("your-api-key", key)
    )
    (tmp_path / "example.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "example.py")],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "TENSORONE_BASE_URL": platform.client.base_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("with status pending")
    assert lines[-1] == "Training completed with status: completed"
