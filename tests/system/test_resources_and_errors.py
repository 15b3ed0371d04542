"""What a user is told when the cluster cannot run a job, or the job's data is bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorone.sdk.errors import TensorOneError

from .conftest import Platform, learnable_records, lora_config, put_language_assets


def test_gpu_type_no_node_offers_is_refused_with_the_available_types(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(8))
    client = platform.client
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    with pytest.raises(TensorOneError) as caught:
        client.training.jobs.create(
            name="h100-please",
            model_type="llm",
            dataset_id=dataset.id,
            gpu_type="h100",
            config=lora_config(model),
        )
    assert caught.value.error == "INSUFFICIENT_RESOURCES"
    assert caught.value.details["requestedGpuType"] == "h100"
    assert sorted(caught.value.details["availableGpuTypes"]) == ["a100", "rtx4090"]
    assert client.training.jobs.list().pagination.total == 0


def test_job_whose_workers_cannot_all_be_placed_says_why_in_its_status(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(8))
    client = platform.client
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    # One node has a single RTX 4090: the second worker has nowhere to go.
    job = client.training.jobs.create(
        name="too-wide", model_type="llm", dataset_id=dataset.id, gpu_type="rtx4090", max_workers=2,
        config=lora_config(model),
    )  # fmt: skip

    def unschedulable() -> bool:
        # The scheduler's first word may be about the checkpoint claim the provisioner is still binding; the
        # one that stays is about the GPUs.
        conditions = platform.job_resource(job.id).get("status", {}).get("conditions", [])
        return any(
            c["type"] == "Scheduled" and c["status"] == "False" and "nvidia.com/gpu" in c.get("message", "")
            for c in conditions
        )

    platform.wait_job(job.id, lambda _: unschedulable(), "an Unschedulable condition about GPUs", timeout=90)
    scheduled = next(
        c for c in platform.job_resource(job.id)["status"]["conditions"] if c["type"] == "Scheduled"
    )
    assert scheduled["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in scheduled["message"]
    assert client.training.jobs.get(job.id).status == "pending"


def test_malformed_jsonl_line_fails_the_job_naming_the_file_and_line(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(8))
    local = platform.dataset_volume / "text" / "train.jsonl"
    lines = local.read_text().splitlines()
    lines[4] = '{"text": "unterminated'
    local.write_text("\n".join(lines) + "\n")
    client = platform.client
    dataset = client.datasets.create(name="broken", format="jsonl", source=data)
    job = client.training.jobs.create(
        name="bad-data", model_type="llm", dataset_id=dataset.id, gpu_type="a100", config=lora_config(model)
    )
    final = platform.wait_finished(job.id, timeout=180)
    assert final.status == "failed"
    assert final.error is not None
    assert "train.jsonl:5:" in final.error.message
    # Found by the dataset check before admission: no worker ever started (nor billed).
    assert platform.job_resource(job.id)["status"].get("attempts", 0) == 0


def test_wrong_yolo_label_fails_the_job_naming_the_file_and_line(platform: Platform) -> None:
    from tensorone.demo.assets import write_shapes_dataset

    root = platform.dataset_volume / "shapes"
    write_shapes_dataset(root, n_train=4, n_val=2)
    (root / "labels" / "train" / "1.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2\n")
    client = platform.client
    dataset = client.datasets.create(name="shapes", format="yolo", source="/datasets/shapes")
    job = client.training.jobs.create(
        name="bad-labels", model_type="vision", dataset_id=dataset.id, gpu_type="a100",
        config={"input_size": [64, 64], "num_classes": 2, "training": {"epochs": 1, "batch_size": 2}},
    )  # fmt: skip
    final = platform.wait_finished(job.id, timeout=180)
    assert final.status == "failed"
    assert final.error is not None
    assert "1.txt:2:" in final.error.message


def test_yolo_job_runs_its_epochs_reports_map_and_writes_best_weights(platform: Platform) -> None:
    from tensorone.demo.assets import write_shapes_dataset

    write_shapes_dataset(platform.dataset_volume / "shapes", n_train=8, n_val=4)
    client = platform.client
    dataset = client.datasets.create(name="shapes", format="yolo", source="/datasets/shapes")
    job = client.training.jobs.create(
        name="shapes", model_type="vision", dataset_id=dataset.id, gpu_type="a100",
        config={"architecture": "yolov8n", "input_size": [64, 64], "num_classes": 2,
                "training": {"epochs": 2, "batch_size": 4}},
    )  # fmt: skip
    final = platform.wait_finished(job.id, timeout=240)
    assert final.status == "completed", final.error
    assert final.progress.current_epoch == final.progress.total_epochs == 2
    metrics = platform.job_resource(job.id)["status"]["metrics"]
    assert "mAP50" in metrics
    assert 0.0 <= metrics["mAP50"] <= 1.0
    assert final.metrics.throughput is not None
    assert final.metrics.throughput.endswith("images/sec")
    name = job.id.replace("_", "-")
    volume = platform.sandbox.dir / "volumes" / "tensorone-default"
    assert list(volume.glob(f"{name}-*/**/artifacts/best.pt")), "no best.pt among the job's artifacts"
    assert [c.epoch for c in client.training.jobs.checkpoints(job.id)][-1] == 2
