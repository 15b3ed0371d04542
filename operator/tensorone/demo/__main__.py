"""``python -m tensorone.demo`` (``make demo``): the platform end to end on this machine.

Starts the sandbox with the operator and the REST facade, makes a tiny causal LM and a dataset of real text,
registers the dataset through the API, submits a 2-worker LoRA job through the SDK, follows it live, stops it
with a checkpoint, resumes it from that checkpoint, waits for it to complete, then runs a short YOLO job, prints
what a user gets (checkpoints, loss, artifacts, GPU-hours, cost) and shuts everything down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tensorone.cli.progress import follow_job
from tensorone.demo.assets import YOLO_CLASSES, build_language_assets, write_shapes_dataset
from tensorone.demo.platform import DATASET_MOUNT, DEFAULT_ACCOUNT_NAMESPACE, LocalPlatform
from tensorone.facade.dashboard import UI_PREFIX
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.models import TrainingJob

FINISHED = {"completed", "failed", "cancelled", "stopped"}
LORA_CONFIG = {
    "baseModel": f"{DATASET_MOUNT}/models/tiny-llama",
    "strategy": "lora",
    "parameters": {
        "rank": 8,
        "alpha": 16,
        "dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    },
    "training": {
        "epochs": 4,
        "batch_size": 8,
        "learning_rate": 0.01,
        "max_seq_length": 64,
        "save_every_steps": 25,
        "seed": 42,
    },
}
YOLO_CONFIG = {
    "architecture": "yolov8n",
    "input_size": [64, 64],
    "num_classes": len(YOLO_CLASSES),
    "training": {"epochs": 3, "batch_size": 8, "learning_rate": 0.01},
}


class DemoError(RuntimeError):
    """A step of the demo did not give what a user would expect."""


def _expect(job: TrainingJob, status: str, client: TensorOneClient) -> None:
    if job.status != status:
        logs = client.training.jobs.logs(job.id, tail=30)
        reason = f"{job.error.reason}: {job.error.message}" if job.error else "no error recorded"
        raise DemoError(
            f"job {job.id} is {job.status}, expected {status} ({reason})\nlast log lines:\n{logs}"
        )


def _language_job(platform: LocalPlatform, client: TensorOneClient, console: Console) -> TrainingJob:
    console.rule("[bold]1. A LoRA fine-tuning job on 2 workers")
    volume = platform.dataset_volume()
    started = time.monotonic()
    model_dir, dataset_file = build_language_assets(volume)
    lines = sum(1 for _ in dataset_file.open())
    console.print(
        f"made a tiny Llama ({model_dir.name}) and a dataset of {lines} paragraphs of Python's own documentation "
        f"in {time.monotonic() - started:.1f} s, on the dataset volume ({DATASET_MOUNT})"
    )
    dataset = client.datasets.create(
        name="python-docs", format="jsonl", source=f"{DATASET_MOUNT}/text/{dataset_file.name}"
    )
    console.print(f"registered dataset [cyan]{dataset.id}[/] through POST /v2/datasets")
    job = client.training.jobs.create(
        name="python-docs-lora", model_type="llm", dataset_id=dataset.id, config=LORA_CONFIG,
        gpu_type="a100", max_workers=2, tags=["demo"],
    )  # fmt: skip
    assert isinstance(job, TrainingJob)
    estimate = job.estimated_cost
    console.print(
        f"submitted job [cyan]{job.id}[/] ({job.status}); estimate ${estimate.hourly:.2f}/h"
        if estimate
        else f"submitted job [cyan]{job.id}[/] ({job.status})"
    )
    seen = follow_job(client, job.id, console, interval=1.0, until=lambda j: j.progress.percentage >= 40)
    if seen.status in FINISHED:
        _expect(seen, "running", client)
    console.print(f"stopping at {seen.progress.percentage:.0f} % with a checkpoint (POST …/stop)")
    client.training.jobs.stop(job.id, save_checkpoint=True, reason="demo: pause and resume")
    stopped = client.training.jobs.wait(job.id, until=FINISHED, timeout=240, poll_interval=1.0)
    _expect(stopped, "stopped", client)
    checkpoints = client.training.jobs.checkpoints(job.id)
    if not checkpoints:
        raise DemoError(f"job {job.id} stopped without a checkpoint")
    latest = checkpoints[-1]
    console.print(
        f"stopped; resuming from checkpoint [cyan]{latest.id}[/] (step {latest.step}, POST …/resume)"
    )
    client.training.jobs.resume(job.id, checkpoint_id=latest.id)
    final = follow_job(
        client, job.id, console, interval=1.0, until=lambda j: j.status in FINISHED - {"stopped"}
    )
    _expect(final, "completed", client)
    return final


def _report_language_job(
    platform: LocalPlatform, client: TensorOneClient, job: TrainingJob, console: Console
) -> None:
    table = Table("checkpoint", "epoch", "step", "loss", "size", title=f"checkpoints of {job.id}")
    for checkpoint in client.training.jobs.checkpoints(job.id):
        loss = f"{checkpoint.loss:.4f}" if checkpoint.loss is not None else "-"
        table.add_row(checkpoint.id, str(checkpoint.epoch), str(checkpoint.step), loss, checkpoint.size)
    console.print(table)
    points = [p for p in client.training.jobs.metrics(job.id) if p.loss is not None]
    if len(points) < 2:
        raise DemoError("the job's metrics history has fewer than two points")
    first, last = points[0], points[-1]
    console.print(
        f"loss: {first.loss:.4f} at step {first.step} → {last.loss:.4f} at step {last.step} "
        f"({len(points)} logged steps across both attempts)"
    )
    if not last.loss < first.loss:  # type: ignore[operator]
        raise DemoError("the loss did not fall")
    adapter = _artifact(platform, job, "adapter/adapter_config.json")
    if adapter is None:
        raise DemoError("no LoRA adapter was written")
    console.print(f"LoRA adapter (peft format): {adapter.parent}")
    usage = job.resource_usage
    if usage is None or usage.cost <= 0:
        raise DemoError("the job recorded no usage")
    console.print(
        f"GPU-hours: {usage.gpu_hours:.5f}   cost: ${usage.cost:.5f} (billed only while workers ran)"
    )


def _vision_job(platform: LocalPlatform, client: TensorOneClient, console: Console) -> TrainingJob:
    console.rule("[bold]2. A short YOLO detection job")
    write_shapes_dataset(platform.dataset_volume() / "shapes")
    dataset = client.datasets.create(name="shapes", format="yolo", source=f"{DATASET_MOUNT}/shapes")
    job = client.training.jobs.create(
        name="shapes-yolo", model_type="vision", dataset_id=dataset.id, config=YOLO_CONFIG, gpu_type="a100"
    )
    assert isinstance(job, TrainingJob)
    console.print(f"submitted job [cyan]{job.id}[/] on dataset {dataset.id} (synthetic red and blue boxes)")
    final = follow_job(client, job.id, console, interval=1.0)
    _expect(final, "completed", client)
    weights = _artifact(platform, final, "best.pt")
    if weights is None:
        raise DemoError("no best.pt was written")
    console.print(f"best weights: {weights}")
    return final


def _artifact(platform: LocalPlatform, job: TrainingJob, relative: str) -> Path | None:
    """A final artifact of ``job`` on its checkpoint volume (``…/<job>/artifacts/<relative>``)."""
    name = job.id.replace("_", "-")
    volume = platform.dir / "volumes" / DEFAULT_ACCOUNT_NAMESPACE
    found = sorted(volume.glob(f"{name}-*/**/artifacts/{relative}"))
    return found[0] if found else None


def _leftover_processes(directory: Path) -> list[int]:
    """Processes whose command line still names the demo's directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in cmdline:
            found.append(int(entry.name))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tensorone.demo", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=Path(".sandbox-demo"), help="sandbox directory (wiped first)"
    )
    parser.add_argument("--skip-vision", action="store_true", help="run only the LoRA part")
    args = parser.parse_args(argv)
    console = Console()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    directory = args.dir.resolve()
    shutil.rmtree(directory, ignore_errors=True)
    started = time.monotonic()
    try:
        console.rule("[bold]TensorOne Training — demo on a local sandbox")
        with LocalPlatform(directory) as platform:
            console.print(f"platform up: API {platform.api_url}, kubeconfig {platform.kubeconfig}")
            console.print(
                f"dashboard (watch the jobs live): {platform.api_url}{UI_PREFIX}, API key in {platform.dir}/api-key"
            )
            client = platform.client()
            job = _language_job(platform, client, console)
            _report_language_job(platform, client, job, console)
            if not args.skip_vision:
                _vision_job(platform, client, console)
            console.rule("shutting down")
    except DemoError as e:
        console.print(f"[bold red]demo failed:[/] {e}")
        return 1
    leftovers = _leftover_processes(directory)
    if leftovers:
        console.print(f"[bold red]processes left behind:[/] {leftovers}")
        return 1
    console.print(f"done in {time.monotonic() - started:.0f} s; no process left behind")
    console.print(
        "dashboard: `make demo-up` keeps the platform running; open its ui= URL, key in .sandbox/api-key"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
