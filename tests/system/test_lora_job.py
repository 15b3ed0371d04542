"""A LoRA job on two torchrun workers, from submission to completion, as a user sees it through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorone.catalog import load_catalog

from .conftest import Platform, learnable_records, lora_config, put_language_assets


def test_two_worker_lora_job_completes_with_progress_falling_loss_checkpoints_and_cost(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(64))
    client = platform.client
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    job = client.training.jobs.create(
        name="zen-lora", model_type="llm", dataset_id=dataset.id, gpu_type="a100", max_workers=2,
        config={**lora_config(model, epochs=3, save_every_steps=5), "optimization": {"async_checkpoint": True}},
    )  # fmt: skip
    assert job.status == "pending"
    seen = {job.status}
    final = platform.wait_job(
        job.id, lambda j: seen.add(j.status) or j.status in {"completed", "failed"}, "completion", timeout=300
    )
    assert final.status == "completed", final.error
    assert "running" in seen
    conditions = {c["type"]: c for c in platform.job_resource(job.id)["status"]["conditions"]}
    assert conditions["Admitted"]["status"] == "True"
    assert conditions["Succeeded"]["status"] == "True"
    assert final.progress.percentage == 100.0
    assert final.progress.current_step == final.progress.total_steps > 0
    points = [p for p in client.training.jobs.metrics(job.id) if p.loss is not None]
    assert [p.step for p in points] == list(range(1, final.progress.total_steps + 1))
    assert points[-1].loss < points[0].loss
    checkpoints = client.training.jobs.checkpoints(job.id)
    assert checkpoints, "no checkpoint listed"
    assert all(c.size.endswith("B") and c.step > 0 for c in checkpoints)
    pods = platform.pods(job.id)
    assert len({p["metadata"]["name"] for p in pods}) <= 2
    usage = platform.job_resource(job.id)["status"]["resourceUsage"]
    price = load_catalog().gpu("a100").price_per_hour
    assert usage["gpuSeconds"] > 0
    assert final.resource_usage is not None
    assert final.resource_usage.cost == pytest.approx(usage["gpuSeconds"] / 3600 * price, rel=1e-3, abs=1e-6)
    # The speed options the trainer used, as the job object tells them: the one asked for (background checkpoint
    # saves) and those chosen for a CPU (fp32; memory no constraint, so no gradient checkpointing).
    assert final.optimizations is not None
    assert final.optimizations.async_checkpoint is True
    assert final.optimizations.mixed_precision == "no"
    assert final.optimizations.gradient_checkpointing is False
    # Where the result is: the adapter, reported by the trainer, on the job's volume.
    (adapter,) = [a for a in final.artifacts if a.name == "adapter"]
    assert adapter.kind == "folder"
    assert adapter.size_bytes > 0
    assert adapter.path.endswith(f"/{job.id.replace('_', '-')}/artifacts/adapter")
    # The worker log tells the run (one line per logged step) and not the reporter's HTTP requests.
    log = client.training.jobs.logs(job.id, worker=0)
    assert f"step {final.progress.total_steps}/{final.progress.total_steps} " in log
    assert " loss " in log
    assert " ETA " in log
    assert "HTTP Request" not in log
