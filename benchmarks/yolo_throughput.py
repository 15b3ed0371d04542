"""Trainer images/s on YOLO against ultralytics called directly with the same arguments, in one run.

The trainer adds its callbacks (reporting, checkpoint mirroring, stop flag) around ultralytics' own loop;
this measures what that costs. Step intervals are taken point to point on both sides (median, robust to a
shared machine), alternating baseline and trainer for ``--rounds`` rounds and keeping each side's best.

    python -m benchmarks.yolo_throughput [--images 32 --imgsz 128 --batch 8 --epochs 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch
from tests.helpers.tiny_models import write_yolo_dataset

from benchmarks.results import Result
from tensorone.api.trainer_config import VisionRunConfig
from tensorone_trainer.checkpoints import CheckpointStore
from tensorone_trainer.context import RunContext
from tensorone_trainer.distributed import DistInfo
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.reporting.jsonl import JsonlSink
from tensorone_trainer.signals import StopRequest
from tensorone_trainer.yolo import train_yolo, ultralytics_arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def run_config(args: argparse.Namespace, data: Path) -> VisionRunConfig:
    return VisionRunConfig.model_validate(
        {
            "modelType": "vision",
            "dataset": {"path": str(data), "format": "yolo"},
            "config": {
                "architecture": "yolov8n",
                "input_size": [args.imgsz, args.imgsz],
                "training": {"epochs": args.epochs, "batch_size": args.batch},
            },
        }
    )


def images_per_second(intervals: list[float], batch: int) -> float:
    return batch / statistics.median(intervals)


def run_direct(args: argparse.Namespace, data: Path, work: Path) -> float:
    from ultralytics.models.yolo import YOLO

    run = run_config(args, data)
    device = "cpu" if args.device == "cpu" else "0"
    arguments = ultralytics_arguments(run, data / "data.yaml", work, device)
    arguments["pretrained"] = False
    stamps: list[float] = []
    model = YOLO("yolov8n.yaml")
    model.add_callback("on_train_batch_end", lambda trainer: stamps.append(time.time()))
    model.add_callback("on_train_epoch_start", lambda trainer: stamps.append(-1.0))
    model.train(**arguments)
    return images_per_second(_intervals(stamps), args.batch)


def _intervals(stamps: list[float]) -> list[float]:
    """Batch-to-batch intervals within epochs (skipping each epoch's first batch, which includes set-up)."""
    out = []
    for previous, current in itertools.pairwise(stamps):
        if previous > 0 and current > 0:
            out.append(current - previous)
    return out


def run_trainer(args: argparse.Namespace, data: Path, work: Path) -> float:
    device = torch.device("cpu" if args.device == "cpu" else "cuda", 0)
    ctx = RunContext(
        output_dir=work,
        store=CheckpointStore(work / "checkpoints", keep_last=2),
        resume_from=None,
        merge=False,
        dist=DistInfo(rank=0, world_size=1, local_rank=0, device=device),
        stop=StopRequest(),
        attempt=None,
        make_reporter=lambda **kw: Reporter([JsonlSink(work)], device=device, **kw),
        load_history=lambda upto: [],
    )
    train_yolo(run_config(args, data), ctx)
    points = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    steps = [p for p in points if "loss" in p]
    per_epoch = len(steps) // args.epochs
    stamps: list[float] = []
    for index, point in enumerate(steps):
        if index % per_epoch == 0:
            stamps.append(-1.0)
        stamps.append(datetime.fromisoformat(point["time"]).timestamp())
    return images_per_second(_intervals(stamps), args.batch)


def measure(args: argparse.Namespace) -> tuple[float, float, dict[str, Any]]:
    """Images/s of the trainer and of ultralytics called directly (best of ``args.rounds``), and a manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "ultralytics"))
        write_yolo_dataset(
            root / "data", n_train=args.images, n_val=max(2, args.images // 4), imgsz=args.imgsz
        )
        direct, trainer = 0.0, 0.0
        for index in range(args.rounds):
            direct = max(direct, run_direct(args, root / "data", root / f"direct-{index}"))
            trainer = max(trainer, run_trainer(args, root / "data", root / f"trainer-{index}"))
        checkpoint = root / "trainer-0" / "checkpoints" / f"ckpt_epoch_{args.epochs}" / "manifest.json"
        manifest: dict[str, Any] = json.loads(checkpoint.read_text())
    return trainer, direct, manifest


QUICK = ["--images", "16", "--rounds", "1"]


def run(quick: bool) -> list[Result]:
    """The figure for ``python -m benchmarks`` (16 images, one round when ``quick``)."""
    args = parse_args(QUICK if quick else [])
    trainer, direct, manifest = measure(args)
    setting = (
        f"YOLOv8n, {args.images} images at {args.imgsz}px, batch {args.batch}, {args.epochs} epochs, "
        f"{args.device}, best of {args.rounds}; checkpoint {manifest['size']}"
    )
    return [
        Result("yolo_throughput", "images/s", trainer, "images/s", "ultralytics called directly", direct,
               "ratio ≥ 0.97", setting)
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    trainer, direct, manifest = measure(args)
    print(
        f"YOLOv8n, {args.images} images at {args.imgsz}px, batch {args.batch}, {args.epochs} epochs, {args.device}"
    )
    print(f"{'':16}{'trainer':>12}{'ultralytics':>14}{'ratio':>8}")
    print(f"{'images/s':16}{trainer:12.1f}{direct:14.1f}{trainer / direct:8.3f}   (target >= 0.97)")
    print(f"checkpoint size {manifest['size']} (last.pt + best.pt + exact fp32 state)")


if __name__ == "__main__":
    main()
