"""YOLO detection through the command line: offline, checkpoints per epoch, ultralytics-style resume.

Resume is epoch-granular (ultralytics' semantics). The trainer restores the fp32 weights, EMA, optimizer,
epoch and RNG/loader states exactly; the losses after resume are not bitwise those of the uninterrupted run
(ultralytics keeps warm-up gradient-accumulation state across epochs that its checkpoint does not hold), so
this test checks what is exact: the resumed run starts at the next epoch from the saved weights and finishes
the planned epochs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tests.helpers.tiny_models import read_metrics, run_trainer, step_losses, write_yolo_dataset

pytestmark = pytest.mark.slow


def _config(dataset: Path, epochs: int = 2) -> dict[str, Any]:
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
    for epoch in (1, 2):
        manifest = json.loads((out / "checkpoints" / f"ckpt_epoch_{epoch}" / "manifest.json").read_text())
        assert manifest["epoch"] == epoch
        assert {"last.pt", "exact_state.pt"} <= set(manifest["files"])
    status = json.loads((out / "status.json").read_text())
    assert status["progress"]["percentage"] == 100.0
    assert status["metrics"]["throughput"].endswith("images/sec")
    assert "mAP50" in status["metrics"]
    assert len(step_losses(out)) == 4  # 8 training images / batch 4 x 2 epochs


def test_yolo_resumes_at_the_next_epoch_from_a_checkpoint(trained: Path) -> None:
    out = trained / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copytree(trained / "out" / "checkpoints" / "ckpt_epoch_1", out / "checkpoints" / "ckpt_epoch_1")
    done = run_trainer(
        _config(trained / "data"),
        out,
        "--resume-from",
        "latest",
        YOLO_CONFIG_DIR=str(trained / "ultralytics"),
    )
    assert done.returncode == 0, done.stderr
    assert sorted(step_losses(out)) == [3, 4]  # only epoch 2 ran
    assert (out / "best.pt").is_file()
    assert (out / "checkpoints" / "ckpt_epoch_2" / "manifest.json").is_file()
    assert any("evalLoss" in p for p in read_metrics(out))


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
