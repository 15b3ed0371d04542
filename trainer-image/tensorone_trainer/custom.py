"""Custom training code (``customCode`` defining ``train(context)``) inside the platform's guarantees.

User code gets a :class:`TrainContext`: the config and paths, ``report(step=…, loss=…)`` for progress and
metrics, ``should_stop()`` for a graceful stop on SIGTERM, and ``save_checkpoint``/``load_checkpoint`` so that
its state lands in the same atomic, hashed, retained checkpoint store as the built-in loops (and resume finds
it). The ``image`` + ``command`` form runs the command as a child process, forwarding SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import traceback
from pathlib import Path
from typing import Any

import torch

from tensorone.api.config import CustomConfig, LlmTraining
from tensorone.api.trainer_config import CustomRunConfig
from tensorone_trainer import distributed
from tensorone_trainer.checkpoints import Manifest, step_checkpoint_id
from tensorone_trainer.confine import dataset_path
from tensorone_trainer.context import RunContext
from tensorone_trainer.errors import ConfigurationError, TrainerError
from tensorone_trainer.reporting.base import Reporter

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"


class CustomCodeError(TrainerError):
    """The user's ``train`` raised; the message names the line. Exit 1: the operator may retry."""


class TrainContext:
    """What ``train(context)`` receives."""

    def __init__(
        self, run: CustomRunConfig, ctx: RunContext, reporter: Reporter, resume: Manifest | None
    ) -> None:
        self._run = run
        self._ctx = ctx
        self._reporter = reporter
        self._resume = resume
        self.logger = logging.getLogger("customCode")

    # -- what and where ----------------------------------------------------------------------------------
    @property
    def config(self) -> CustomConfig:
        return self._run.config

    @property
    def training(self) -> LlmTraining:
        return self._run.config.training

    @property
    def dataset_path(self) -> Path:
        return dataset_path(self._run)

    @property
    def dataset_format(self) -> str:
        return self._run.dataset.format.value

    @property
    def output_dir(self) -> Path:
        return self._ctx.output_dir

    @property
    def rank(self) -> int:
        return self._ctx.dist.rank

    @property
    def world_size(self) -> int:
        return self._ctx.dist.world_size

    @property
    def device(self) -> torch.device:
        return self._ctx.dist.device

    # -- progress ----------------------------------------------------------------------------------------
    def set_total_steps(self, total_steps: int, total_epochs: int | None = None) -> None:
        self._reporter.set_totals(total_steps=total_steps, total_epochs=total_epochs)

    def report(
        self,
        *,
        step: int,
        loss: float | None = None,
        epoch: float | None = None,
        learning_rate: float | None = None,
        throughput: float | None = None,
        eval_loss: float | None = None,
    ) -> None:
        """Record one step's figures (rank 0 reports; other ranks' calls are ignored)."""
        if loss is not None:
            self._reporter.step(
                step=step,
                epoch=epoch if epoch is not None else 0.0,
                loss=float(loss),
                learning_rate=learning_rate,
                throughput=throughput,
            )
        if eval_loss is not None:
            self._reporter.evaluation(step=step, epoch=epoch or 0.0, eval_loss=float(eval_loss))

    def should_stop(self) -> bool:
        """True once SIGTERM arrived (on any rank): save a checkpoint and return from ``train``."""
        return distributed.any_rank(self._ctx.stop.requested, self._ctx.dist)

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(
        self,
        state: dict[str, Any],
        *,
        step: int,
        epoch: int = 0,
        loss: float | None = None,
        checkpoint_id: str | None = None,
    ) -> None:
        """Store ``state`` (anything ``torch.save`` takes) as a checkpoint; collective under torchrun."""
        distributed.barrier()
        if self._ctx.dist.is_main:
            self._ctx.store.save(
                checkpoint_id or step_checkpoint_id(step),
                epoch=epoch,
                step=step,
                loss=loss,
                attempt=self._ctx.attempt,
                write=lambda folder: torch.save(state, folder / STATE_FILE),
            )
            self._reporter.checkpoints_changed([m.to_info() for m in self._ctx.store.manifests()])
        distributed.barrier()

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The state saved in the checkpoint this run resumes from (``--resume-from``), else ``None``."""
        if self._resume is None:
            return None
        loaded: dict[str, Any] = torch.load(
            self._ctx.store.path(self._resume.id) / STATE_FILE, map_location="cpu", weights_only=False
        )
        return loaded


def _run_command(command: list[str], ctx: RunContext) -> str:
    log.info("running %s", command)
    child = subprocess.Popen(command, env=dict(os.environ, TENSORONE_OUTPUT_DIR=str(ctx.output_dir)))
    previous = signal.getsignal(signal.SIGTERM)

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signal.SIGTERM)
        ctx.stop.request()

    signal.signal(signal.SIGTERM, forward)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != 0:
        raise CustomCodeError(f"config.command exited with {code}")
    return "stopped" if ctx.stop.requested else "completed"


def train_custom(run: CustomRunConfig, ctx: RunContext) -> str:
    conf = run.config
    if conf.command is not None:
        return _run_command(conf.command, ctx)
    if conf.custom_code is None:
        raise ConfigurationError("config.customCode: missing")
    try:
        code = compile(conf.custom_code, "<customCode>", "exec")
    except SyntaxError as e:
        raise ConfigurationError(f"config.customCode: syntax error at line {e.lineno}: {e.msg}") from e
    namespace: dict[str, Any] = {"__name__": "custom_code"}
    resume = ctx.resume_manifest()
    reporter = ctx.make_reporter(
        total_epochs=conf.training.epochs,
        total_steps=0,
        throughput_unit="samples",
        history=ctx.load_history(resume.step if resume is not None else 0),
    )
    context = TrainContext(run, ctx, reporter, resume)
    try:
        exec(code, namespace)
        namespace["train"](context)
    except TrainerError:
        raise
    except Exception as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<customCode>"]
        where = f" at line {frames[-1].lineno}" if frames else ""
        log.exception("customCode failed")
        raise CustomCodeError(f"customCode raised {type(e).__name__}{where}: {e}") from e
    stopped = ctx.stop.requested
    reporter.close(completed=not stopped)
    return "stopped" if stopped else "completed"
