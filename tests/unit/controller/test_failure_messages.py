"""A failed job says why: the trainer's own message, or the cause in the failing worker's last log lines — never
just ``exit 1``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tensorone.api.status import JobPhase
from tensorone.controller.aggregation import decide
from tensorone.controller.failures import MAX_CHARS, meaningful_lines

from .conftest import NOW, TIMING, make_job, make_spec, pod

PRICE = 1.0

TORCHRUN_EADDRINUSE = """\
2026-12-01 10:00:00,000 rank0 INFO tensorone_trainer.reporting.base: step 3/40 epoch 0.08/1 loss 2.1000
2026-12-01 10:00:01,000 rank0 INFO httpx: HTTP Request: PATCH https://10.0.0.1/apis/x/status "HTTP/1.1 200 OK"
Traceback (most recent call last):
  File "/usr/lib/python3.11/runpy.py", line 198, in _run_module_as_main
    return _run_code(code, main_globals, None,
  File "torch/distributed/run.py", line 883, in main
    run(args)
torch.distributed.DistNetworkError: The server socket has failed to listen on any local network address. \
port: 29500, useless: 0 (errno: 98 - Address already in use).
"""


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("config.training.epochs: must be >= 1", "config.training.epochs: must be >= 1"),
        (TORCHRUN_EADDRINUSE, TORCHRUN_EADDRINUSE.splitlines()[-1]),
        (
            'step 1 loss 2.0\nHTTP Request: PATCH https://x "HTTP/1.1 200 OK"\nCUDA out of memory on rank 0\n\n',
            "step 1 loss 2.0\nCUDA out of memory on rank 0",
        ),
        ("\n\n  \n", ""),
    ],
    ids=["trainer-message", "traceback", "plain-lines-without-noise", "nothing"],
)
def test_the_cause_is_picked_out_of_a_termination_message(message: str, expected: str) -> None:
    assert meaningful_lines(message) == expected


def test_a_long_cause_is_cut_between_lines_not_inside_one() -> None:
    lines = [f"line {i}: " + "x" * 400 for i in range(5)]
    kept = meaningful_lines("\n".join(lines))
    assert len(kept) <= MAX_CHARS
    assert kept.splitlines() == lines[-len(kept.splitlines()) :]


def test_retries_used_up_fail_the_job_with_the_workers_own_cause() -> None:
    job = make_job(make_spec(runPolicy={"backoffLimit": 0}), phase="running")
    crashed = pod(phase="Failed", exit_code=1, message=TORCHRUN_EADDRINUSE)
    decision = decide(job, [crashed], NOW, TIMING, PRICE)
    assert decision.status.phase == JobPhase.FAILED
    assert decision.status.error is not None
    assert decision.status.error.reason == "BackoffLimitExceeded"
    assert "Address already in use" in decision.status.error.message
    assert decision.status.error.message.startswith("worker 0 (exit 1): torch.distributed.DistNetworkError")
    failed = [c for c in decision.status.conditions if c.type == "Failed"]
    assert failed[0].message == decision.status.error.message  # what kubectl describe shows
    assert any("Address already in use" in e.message for e in decision.events if e.type == "Warning")


def test_a_retry_names_the_first_worker_to_fail_and_its_cause() -> None:
    job = make_job(phase="running")
    first = pod(
        0, phase="Failed", exit_code=1, message="ValueError: boom", finished_at=NOW - timedelta(seconds=5)
    )
    follower = pod(1, phase="Failed", exit_code=1, message="peer closed the connection", finished_at=NOW)
    decision = decide(job, [follower, first], NOW, TIMING, PRICE)
    assert decision.status.attempts == 2
    assert decision.events[0].message.startswith("worker 0 (exit 1): ValueError: boom (and 1 more worker(s))")


def test_a_trainer_configuration_error_is_the_jobs_error_word_for_word() -> None:
    message = "config.baseModel: /models/x does not exist on the worker"
    decision = decide(
        make_job(phase="running"), [pod(phase="Failed", exit_code=78, message=message)], NOW, TIMING, PRICE
    )
    assert decision.status.error is not None
    assert (decision.status.error.reason, decision.status.error.message) == ("ConfigurationError", message)
