"""Stop with a checkpoint, resume from a named checkpoint: training continues exactly where it was."""

from __future__ import annotations

from pathlib import Path

from .conftest import Platform, learnable_records, lora_config, put_language_assets


def test_resumed_job_has_the_loss_curve_of_an_uninterrupted_job_step_for_step(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(96))
    client = platform.client
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    config = lora_config(model, epochs=3, save_every_steps=4)
    # One job after the other: sandbox pods share the host's network, so two 2-worker jobs at once would both
    # claim worker 0's rendezvous port (on a cluster every pod has its own address).
    straight = client.training.jobs.create(
        name="uninterrupted",
        model_type="llm",
        dataset_id=dataset.id,
        gpu_type="a100",
        max_workers=2,
        config=config,
    )
    finished = platform.wait_finished(straight.id)
    assert finished.status == "completed", finished.error
    paused = client.training.jobs.create(
        name="paused", model_type="llm", dataset_id=dataset.id, gpu_type="a100", max_workers=2, config=config
    )
    running = platform.wait_job(
        paused.id, lambda j: j.progress.percentage >= 35 or j.status == "completed", "35 % progress"
    )
    assert running.status == "running", "the job finished before it could be stopped"
    stopping = client.training.jobs.stop(paused.id, save_checkpoint=True, reason="test")
    assert stopping.status == "stopping"
    stopped = platform.wait_finished(paused.id)
    assert stopped.status == "stopped"
    checkpoints = client.training.jobs.checkpoints(paused.id)
    assert checkpoints
    # Resume from an interval checkpoint before the stop, so the resumed run re-does some steps too.
    earlier = [c for c in checkpoints if c.id.startswith("ckpt_step_")]
    chosen = earlier[0] if len(earlier) > 1 else checkpoints[-1]
    resumed = client.training.jobs.resume(paused.id, checkpoint_id=chosen.id)
    assert resumed.status in {"queued", "pending", "running"}
    assert platform.wait_finished(paused.id).status == "completed"

    reference = {p.step: p.loss for p in client.training.jobs.metrics(straight.id) if p.loss is not None}
    history = [p for p in client.training.jobs.metrics(paused.id) if p.loss is not None]
    assert [p.step for p in history] == sorted(reference), (
        "one point per step, in order, across both attempts"
    )
    assert {p.step: p.loss for p in history} == reference
    assert platform.job_resource(paused.id)["status"]["attempts"] == 2
