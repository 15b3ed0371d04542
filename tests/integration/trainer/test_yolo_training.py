"""YOLO detection through the command line: offline, checkpoints per epoch, stop and exact resume.

Resume is epoch-granular (ultralytics' semantics): a stop in the middle of an epoch resumes from the last
complete one. From there the resumed run's losses equal the uninterrupted run's exactly: the trainer restores
the fp32 weights, EMA and optimizer (ultralytics' last.pt holds them in fp16), seeds each epoch's shuffle and
augmentations from (seed, epoch) — loader workers included, which ultralytics uses on GPUs — and steps the
optimizer every batch (no gradients in flight across an epoch end). Here on CPU; benchmarks/GPU_CHECK.md has
the same check on an H100 with AMP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tests.helpers.tiny_models import (
    read_metrics,
    run_trainer,
    step_losses,
    stop_with_sigterm_after_step,
    write_yolo_dataset,
)

pytestmark = pytest.mark.slow


def _config(dataset: Path, epochs: int = 3) -> dict[str, Any]:
    return {
        "jobId": "job_yolo",
        "modelType": "vision",
        "dataset": {"path": str(dataset), "format": "yolo"},
        "config": {
            "architecture": "yolov8n",
            "input_size": [64, 64],
            "training": {"epochs": epochs, "batch_size": 4, "learning_rate": 0.01},
            "augmentation": {"mosaic": 0.0, "fliplr": 0.5},
        },
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yolo")
    write_yolo_dataset(root / "data")
    done = run_trainer(_config(root / "data"), root / "out", YOLO_CONFIG_DIR=str(root / "ultralytics"))
    assert done.returncode == 0, done.stderr
    return root


def test_yolo_trains_offline_and_writes_weights_checkpoints_and_status(trained: Path) -> None:
    out = trained / "out"
    assert (out / "best.pt").is_file()
    assert (out / "last.pt").is_file()
    for epoch in (1, 2, 3):
        manifest = json.loads((out / "checkpoints" / f"ckpt_epoch_{epoch}" / "manifest.json").read_text())
        assert manifest["epoch"] == epoch
        assert {"last.pt", "exact_state.pt"} <= set(manifest["files"])
    status = json.loads((out / "status.json").read_text())
    assert status["progress"]["percentage"] == 100.0
    assert status["metrics"]["throughput"].endswith("images/sec")
    assert "mAP50" in status["metrics"]
    assert len(step_losses(out)) == 6  # 8 training images / batch 4 x 3 epochs


def test_yolo_stop_and_resume_give_the_same_losses(trained: Path) -> None:
    out = trained / "stopped"
    ultralytics_dir = str(trained / "ultralytics")
    stopped_at = stop_with_sigterm_after_step(
        _config(trained / "data"), out, 3, YOLO_CONFIG_DIR=ultralytics_dir
    )
    assert stopped_at < 6, "the run should have stopped early"
    assert not (out / "best.pt").exists()  # not finished: no final artifacts yet
    done = run_trainer(
        _config(trained / "data"), out, "--resume-from", "latest", YOLO_CONFIG_DIR=ultralytics_dir
    )
    assert done.returncode == 0, done.stderr
    assert step_losses(out) == step_losses(trained / "out")
    evals = [(p["step"], p["evalLoss"]) for p in read_metrics(out) if "evalLoss" in p]
    assert evals == [(p["step"], p["evalLoss"]) for p in read_metrics(trained / "out") if "evalLoss" in p]
    assert (out / "best.pt").is_file()


def test_bad_label_line_exits_65_naming_file_and_line(tmp_path: Path) -> None:
    write_yolo_dataset(tmp_path / "data", n_train=2, n_val=1)
    label = tmp_path / "data" / "labels" / "train" / "1.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
    termination = tmp_path / "termination"
    done = run_trainer(
        _config(tmp_path / "data"), tmp_path / "out", TENSORONE_TERMINATION_LOG=str(termination)
    )
    assert done.returncode == EXIT_DATA_ERROR
    assert f"{label}:2: class 7 is outside 0..1" in termination.read_text()
