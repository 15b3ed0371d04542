"""YOLO detection training with ultralytics, inside the platform's checkpoints, stop and reporting.

Ultralytics owns the loop; this module maps the job's config onto its arguments, keeps it off the network
(no weight, font or AMP-check downloads, no plots that need them), mirrors each epoch's ``last.pt`` into the
checkpoint store, reports progress from its callbacks, and honours SIGTERM between batches.

Resume follows ultralytics' semantics: epoch-granular, from a checkpoint's ``last.pt``; a stop in the middle of
an epoch resumes from the last complete one. On CPU it is exact (same loss at every later batch as the
uninterrupted run): each checkpoint also holds the fp32 weights, EMA and optimizer (``last.pt`` has them in
fp16), every epoch's shuffle and augmentations are seeded from (seed, epoch), and the optimizer steps every
batch (``nbs`` = batch size), so no accumulated gradients straddle an epoch end.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from tensorone.api.config import OptimizerName
from tensorone.api.trainer_config import VisionRunConfig
from tensorone_trainer.checkpoints import epoch_checkpoint_id
from tensorone_trainer.confine import dataset_path, model_location
from tensorone_trainer.context import RunContext
from tensorone_trainer.data.yolo import prepare_yolo_dataset
from tensorone_trainer.errors import ConfigurationError
from tensorone_trainer.reporting.base import Reporter
from tensorone_trainer.rng import seed_everything

log = logging.getLogger(__name__)

_OPTIMIZERS = {OptimizerName.SGD: "SGD", OptimizerName.ADAM: "Adam", OptimizerName.ADAMW: "AdamW"}
EXACT_STATE_FILE = "exact_state.pt"


def offline_environment() -> None:
    """Set before ultralytics is imported: it reads these at import time."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("ULTRALYTICS_SYNC", "False")


def ultralytics_arguments(run: VisionRunConfig, data_yaml: Path, output: Path, device: str) -> dict[str, Any]:
    """The job's config as ``model.train(**arguments)``."""
    conf = run.config
    training = conf.training
    return {
        "data": str(data_yaml),
        "epochs": training.epochs,
        "batch": training.batch_size,
        # One optimizer step per batch, as batch_size says. Ultralytics' default nominal batch of 64 accumulates
        # gradients across batches, and across epoch ends, where no checkpoint can hold them: exact resume
        # needs none in flight. (Weight decay is then exactly the configured one.)
        "nbs": training.batch_size,
        "imgsz": max(conf.input_size),
        "lr0": training.learning_rate,
        "momentum": training.momentum,
        "weight_decay": training.weight_decay,
        "optimizer": _OPTIMIZERS[training.optimizer],
        "seed": training.seed,
        "deterministic": True,
        "workers": 0 if device == "cpu" else 8,  # in-process loading on CPU keeps augmentation deterministic
        "device": device,
        "amp": device != "cpu",  # the AMP check downloads weights: off on CPU, where AMP does nothing anyway
        "plots": False,  # plots fetch a font
        "project": str(output),
        "name": "yolo",
        "exist_ok": True,
        "patience": training.early_stopping_patience or 100,
        "val": True,
        "verbose": False,
        **conf.augmentation.model_dump(),
    }


class _Bridge:
    """Ultralytics callbacks → reporter, checkpoint store and stop flag."""

    def __init__(self, run: VisionRunConfig, ctx: RunContext, exact_state: dict[str, Any] | None) -> None:
        self.run = run
        self.ctx = ctx
        self.exact_state = exact_state
        self.reporter: Reporter | None = None
        self.batches_per_epoch = 1
        self.batch_in_epoch = 0
        self.batch_started = time.perf_counter()
        self.stopped_mid_epoch = False
        self.save_every = run.config.training.save_every_epochs or 1

    def _seed_epoch(self, trainer: Any) -> None:
        """Make the epoch's shuffle and augmentations a function of (seed, epoch) alone, like the LLM loop,
        so a resumed run draws exactly what the uninterrupted one did (whatever ultralytics drew before).

        With loader workers (ultralytics uses them on GPUs) the augmentations are drawn in the workers, whose
        random state otherwise runs on from epoch to epoch in a pool kept for the whole run; so the pool is
        started anew each epoch, each worker seeded from the generator just seeded (one pool start per epoch)."""
        seed = self.run.config.training.seed * 1000 + trainer.epoch
        seed_everything(seed)
        loader = trainer.train_loader
        generator = getattr(loader, "generator", None)
        if generator is None:
            return
        generator.manual_seed(seed)
        if hasattr(loader, "reset"):
            loader.reset()  # a fresh sampler pass (and worker pool), drawn from the generator just seeded
        else:
            loader.iterator = None

    def on_train_start(self, trainer: Any) -> None:
        self.batches_per_epoch = len(trainer.train_loader)
        manifest_step = trainer.start_epoch * self.batches_per_epoch
        self.reporter = self.ctx.make_reporter(
            total_epochs=trainer.epochs,
            total_steps=trainer.epochs * self.batches_per_epoch,
            throughput_unit="images",
            history=self.ctx.load_history(manifest_step if trainer.start_epoch else 0),
        )
        if self.exact_state is not None:
            # Ultralytics' last.pt holds the EMA weights and optimizer state in fp16; put back the exact fp32
            # training weights, EMA and optimizer this trainer saved beside it.
            trainer.model.load_state_dict(self.exact_state["model"])
            trainer.ema.ema.load_state_dict(self.exact_state["ema"])
            trainer.optimizer.load_state_dict(self.exact_state["optimizer"])
        self.reporter.checkpoints_changed([m.to_info() for m in self.ctx.store.manifests()])

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._seed_epoch(trainer)
        self.batch_in_epoch = 0
        self.batch_started = time.perf_counter()

    def on_train_batch_end(self, trainer: Any) -> None:
        self.batch_in_epoch += 1
        now = time.perf_counter()
        seconds, self.batch_started = now - self.batch_started, now
        items = trainer.loss_items
        loss = float(sum(items.values()) if isinstance(items, dict) else torch.as_tensor(items).sum())
        step = trainer.epoch * self.batches_per_epoch + self.batch_in_epoch
        assert self.reporter is not None
        self.reporter.step(
            step=step,
            epoch=trainer.epoch + self.batch_in_epoch / self.batches_per_epoch,
            loss=loss,
            learning_rate=float(trainer.optimizer.param_groups[0]["lr"]),
            throughput=trainer.batch_size / seconds if seconds > 0 else None,
        )
        if self.ctx.stop.requested and not trainer.stop:
            trainer.stop = True
            self.stopped_mid_epoch = self.batch_in_epoch < self.batches_per_epoch
            log.info("stop requested: ending after this batch (epoch %d)", trainer.epoch + 1)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = trainer.metrics or {}
        eval_loss = sum(float(v) for k, v in metrics.items() if k.startswith("val/")) or None
        extra = {}
        if "metrics/mAP50(B)" in metrics:
            extra = {
                "map50": float(metrics["metrics/mAP50(B)"]),
                "map50_95": float(metrics["metrics/mAP50-95(B)"]),
            }
        assert self.reporter is not None
        if eval_loss is not None:
            step = (trainer.epoch + 1) * self.batches_per_epoch
            self.reporter.evaluation(step=step, epoch=trainer.epoch + 1.0, eval_loss=eval_loss, extra=extra)
        if self.ctx.stop.requested:
            trainer.stop = True  # a stop that came during validation: the epoch is saved, end here

    def on_model_save(self, trainer: Any) -> None:
        epoch = trainer.epoch + 1
        if self.stopped_mid_epoch or (epoch % self.save_every and epoch < trainer.epochs):
            return  # ultralytics saves a half epoch as if whole: keep the last complete one instead
        items = trainer.tloss
        loss = float(sum(items.values()) if isinstance(items, dict) else torch.as_tensor(items).sum())
        self._save(trainer, epoch, loss)

    def _save(self, trainer: Any, epoch: int, loss: float) -> None:
        state = {
            "model": trainer.model.state_dict(),
            "ema": trainer.ema.ema.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
        }

        def write(folder: Path) -> None:
            shutil.copy2(trainer.last, folder / "last.pt")
            if Path(trainer.best).is_file():
                shutil.copy2(trainer.best, folder / "best.pt")
            torch.save(state, folder / EXACT_STATE_FILE)

        self.ctx.store.save(
            epoch_checkpoint_id(epoch),
            epoch=epoch,
            step=epoch * self.batches_per_epoch,
            loss=loss,
            attempt=self.ctx.attempt,
            write=write,
        )
        assert self.reporter is not None
        self.reporter.checkpoints_changed([m.to_info() for m in self.ctx.store.manifests()])


def train_yolo(run: VisionRunConfig, ctx: RunContext) -> str:
    """Train (or resume) a YOLO detector; returns "completed" or "stopped"."""
    if not ctx.dist.is_main:
        # Ultralytics runs its own multi-GPU DDP from one process; extra torchrun ranks have nothing to do.
        log.info("vision jobs train from rank 0; rank %d exits", ctx.dist.rank)
        return "completed"
    offline_environment()
    from ultralytics.models.yolo import YOLO

    conf = run.config
    output = ctx.output_dir
    data_yaml, num_classes = prepare_yolo_dataset(
        dataset_path(run),
        output,
        num_classes=conf.num_classes,
        val_split=conf.training.validation_split,
        seed=conf.training.seed,
        root=run.data_root,
    )
    device = "cpu" if ctx.dist.device.type == "cpu" else str(ctx.dist.local_rank)
    arguments = ultralytics_arguments(run, data_yaml, output, device)
    manifest = ctx.resume_manifest()
    exact_state = None
    if manifest is not None:
        folder = ctx.store.path(manifest.id)
        resume_from = output / "yolo" / "resume.pt"
        resume_from.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "last.pt", resume_from)
        if (folder / EXACT_STATE_FILE).is_file():
            exact_state = torch.load(folder / EXACT_STATE_FILE, weights_only=False)
        model = YOLO(str(resume_from))
        arguments = {"resume": str(resume_from), "data": str(data_yaml), "device": device, "plots": False}
        arguments["save_dir"] = str(output / "yolo")
        log.info("resuming from %s (epoch %d)", manifest.id, manifest.epoch)
    else:
        initial = model_location(run, conf.weights, "config.weights") if conf.weights else None
        source = initial or f"{conf.architecture}.yaml"
        if initial is not None and not Path(initial).is_file():
            raise ConfigurationError(
                f"config.weights: {conf.weights} not found (the trainer never downloads)"
            )
        try:
            model = YOLO(source)
        except (FileNotFoundError, OSError) as e:
            raise ConfigurationError(
                f"config.architecture: cannot build {source} ({type(e).__name__})"
            ) from e
        if initial is None:
            arguments["pretrained"] = False  # from the architecture's yaml; ultralytics sets nc from the data
    bridge = _Bridge(run, ctx, exact_state)
    for event in (
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_end",
        "on_fit_epoch_end",
        "on_model_save",
    ):
        model.add_callback(event, getattr(bridge, event))
    model.train(**arguments)
    stopped = ctx.stop.requested
    if not stopped:
        weights = output / "yolo" / "weights"
        for name in ("best.pt", "last.pt"):
            if (weights / name).is_file():
                shutil.copy2(weights / name, output / name)
    if bridge.reporter is not None:
        bridge.reporter.close(completed=not stopped)
    log.info("%d classes; artifacts under %s", num_classes, output)
    return "stopped" if stopped else "completed"
