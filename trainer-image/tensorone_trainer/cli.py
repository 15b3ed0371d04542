"""The trainer's command line: ``python -m tensorone_trainer run --config job.json --output DIR``.

One entrypoint for a pod (under ``torchrun``) and for a laptop. It validates the run config before touching
any model, sets up the process group, checkpoint store, stop flag and reporting sinks, runs the loop for the
job's model type and maps failures onto exit codes the operator understands: 0 for completed or stopped on
request, 65 for bad data, 78 for a bad config (both with a termination message naming the culprit), anything
else is an ordinary crash the operator may retry.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tensorone.api.trainer_config import CustomRunConfig, LlmRunConfig, VisionRunConfig
from tensorone_trainer import distributed
from tensorone_trainer.alive import announce_alive
from tensorone_trainer.checkpoints import CheckpointStore
from tensorone_trainer.context import RunContext
from tensorone_trainer.errors import TrainerError
from tensorone_trainer.reporting.base import Reporter, Sink
from tensorone_trainer.reporting.jsonl import JsonlSink, load_history
from tensorone_trainer.runconfig import load_run_config
from tensorone_trainer.signals import StopRequest

log = logging.getLogger("tensorone_trainer")

TERMINATION_LOG_ENV = "TENSORONE_TERMINATION_LOG"
ATTEMPT_ENV = "TENSORONE_ATTEMPT"
EXIT_CODE_FILE_ENV = "TENSORONE_EXIT_CODE_FILE"
RESUME_FROM_ENV = "TENSORONE_RESUME_FROM"
_DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")


def write_termination_message(message: str) -> None:
    """Leave ``message`` where Kubernetes picks it up as the container's termination message."""
    configured = os.environ.get(TERMINATION_LOG_ENV)
    target = Path(configured) if configured else _DEFAULT_TERMINATION_LOG
    # Only write /dev/termination-log when the kubelet created it: never litter /dev on a laptop.
    if configured or target.exists():
        try:
            target.write_text(message[:4000], encoding="utf-8")
        except OSError:
            log.warning("cannot write the termination message to %s", target)


def record_exit_code(code: int) -> None:
    """Tell the launcher this process's own exit code: torchrun reports any worker failure as exit 1."""
    target = os.environ.get(EXIT_CODE_FILE_ENV)
    if target:
        try:
            Path(target).write_text(str(code), encoding="utf-8")
        except OSError:
            log.warning("cannot record the exit code in %s", target)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tensorone_trainer", description="TensorOne trainer")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train as the run config says")
    run.add_argument("--config", help="run config JSON (default: the file named by $TENSORONE_RUN_CONFIG)")
    run.add_argument("--output", required=True, help="folder for artifacts, metrics.jsonl and status.json")
    run.add_argument(
        "--checkpoint-dir",
        help="checkpoint root, <volume>/<namespace>/<job> in a pod (default: OUTPUT/checkpoints)",
    )
    run.add_argument(
        "--resume-from",
        default=os.environ.get(RESUME_FROM_ENV) or None,
        help="checkpoint id under the checkpoint root, or 'latest' (default: $TENSORONE_RESUME_FROM)",
    )
    run.add_argument(
        "--merge", action="store_true", help="also write the LoRA adapter merged into the base model"
    )
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (rank 0)")
    run.add_argument(
        "--attempt", type=int, help="attempt number recorded in checkpoints (default: $TENSORONE_ATTEMPT)"
    )
    run.add_argument("--log-level", default="INFO")
    return parser


def _sinks(run: Any, output: Path, metrics_port: int | None) -> list[Sink]:
    sinks: list[Sink] = [JsonlSink(output)]
    if run.status_target is not None:
        from tensorone_trainer.reporting.status import StatusSink

        try:
            sinks.append(StatusSink.from_environment(interval=run.report_interval_seconds))
        except Exception as e:  # no report endpoint configured: train anyway
            log.warning("status reporting to %s is off: %s", run.status_target.name, e)
    if metrics_port is not None:
        from tensorone_trainer.reporting.prometheus import PrometheusSink

        sinks.append(PrometheusSink(metrics_port, job_id=run.job_id))
    return sinks


def _dispatch(run: Any, ctx: RunContext) -> str:
    outcome: str
    if isinstance(run, LlmRunConfig):
        from tensorone_trainer.llm import train_llm

        outcome = train_llm(run, ctx)
        return outcome
    if isinstance(run, VisionRunConfig):
        from tensorone_trainer.yolo import train_yolo

        outcome = train_yolo(run, ctx)
        return outcome
    if isinstance(run, CustomRunConfig):
        from tensorone_trainer.custom import train_custom

        outcome = train_custom(run, ctx)
        return outcome
    raise AssertionError(f"unknown run config {type(run).__name__}")


def run_command(args: argparse.Namespace, stop: StopRequest) -> int:
    run = load_run_config(args.config)
    info = distributed.init_distributed()
    output = Path(args.output)
    checkpoint_root = Path(args.checkpoint_dir) if args.checkpoint_dir else output / "checkpoints"
    if info.is_main:
        output.mkdir(parents=True, exist_ok=True)
    attempt = (
        args.attempt
        if args.attempt is not None
        else (int(os.environ[ATTEMPT_ENV]) if os.environ.get(ATTEMPT_ENV) else None)
    )

    def make_reporter(**kwargs: Any) -> Reporter:
        sinks = _sinks(run, output, args.metrics_port) if info.is_main else []
        return Reporter(sinks, device=info.device, **kwargs)

    ctx = RunContext(
        output_dir=output,
        store=CheckpointStore(checkpoint_root, keep_last=run.checkpoint.keep_last),
        resume_from=args.resume_from,
        merge=args.merge,
        dist=info,
        stop=stop,
        attempt=attempt,
        make_reporter=make_reporter,
        load_history=lambda upto: load_history(output, upto) if info.is_main else [],
    )
    try:
        outcome = _dispatch(run, ctx)
    finally:
        distributed.shutdown()
    log.info("training %s", outcome)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    announce_alive()  # unless the launcher above holds it: the pod's reporting relay serves while we run
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s rank{rank} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The status reporter's own requests are not the run's story: one INFO line per PATCH drowned the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    stop = StopRequest()
    stop.install()
    try:
        return run_command(args, stop)
    except TrainerError as e:
        log.error("%s", e)
        write_termination_message(str(e))
        record_exit_code(e.exit_code)
        return e.exit_code
    except Exception as e:
        # A crash (exit 1: the operator may retry). The traceback goes to the log; the termination message says
        # what failed and where, so the job's error is not "exit 1".
        write_termination_message(crash_message(e))
        raise


def crash_message(error: BaseException) -> str:
    """``ValueError at llm.py:212 (in step): <message>``: the exception and the innermost frame it came from."""
    frames = traceback.extract_tb(error.__traceback__)
    where = (
        f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} (in {frames[-1].name})" if frames else ""
    )
    text = str(error).strip()
    return f"{type(error).__name__}{where}" + (f": {text}" if text else "")
