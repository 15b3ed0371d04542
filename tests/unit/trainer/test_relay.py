"""The worker pod's reporting relay: the trainer reports to it without a token, it forwards with the pod's token.

The endpoint is a stub HTTP server here (the relay against the real operator and API server is covered by the
integration and system tests, where the pods run it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tensorone.api.reporting import MAX_REPORT_BYTES, REPORTS_PATH
from tensorone_trainer.relay import Relay, run_until_trainer_ends
from tests.unit.trainer.report_endpoint_stub import ReportEndpointStub


@pytest.fixture
def endpoint() -> Iterator[ReportEndpointStub]:
    stub = ReportEndpointStub()
    yield stub
    stub.close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("eyJpod.token.one\n")
    return path


@pytest.fixture
def relay(endpoint: ReportEndpointStub, token: Path) -> Iterator[Relay]:
    served = Relay(endpoint.url, str(token), port=0)
    served.serve()
    yield served
    served.close()


def _url(relay: Relay, path: str = REPORTS_PATH) -> str:
    return f"http://127.0.0.1:{relay.server.server_address[1]}{path}"


def test_a_report_is_forwarded_unchanged_with_the_pods_token_and_the_endpoints_answer_comes_back(
    endpoint: ReportEndpointStub, relay: Relay, token: Path
) -> None:
    body = b'{"progress": {"currentStep": 3}}'
    endpoint.answers.append((400, b'{"error": {"code": "INVALID_REPORT", "field": "phase"}}'))
    refused = httpx.post(_url(relay), content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "phase"
    # A sender's own Authorization is replaced: only the relay's token ever reaches the endpoint.
    taken = httpx.post(_url(relay), content=body, headers={"Authorization": "Bearer forged"})
    assert taken.status_code == 202
    assert endpoint.received == [(REPORTS_PATH, "Bearer eyJpod.token.one", body)] * 2
    # The token is read for every report (the kubelet rotates it).
    token.write_text("eyJpod.token.two")
    httpx.post(_url(relay), content=body)
    assert endpoint.received[-1][1] == "Bearer eyJpod.token.two"


def test_other_paths_and_oversize_reports_are_answered_by_the_relay_and_never_forwarded(
    endpoint: ReportEndpointStub, relay: Relay
) -> None:
    assert httpx.post(_url(relay, "/v1/reports/tenant/other-job"), content=b"{}").status_code == 404
    assert httpx.post(_url(relay, "/admin"), content=b"{}").status_code == 404
    assert httpx.get(_url(relay)).status_code == 405
    # Just over the limit, and many times over it (the sender still sending when the relay answers).
    # A plain client (urllib: it sends the whole body before it reads) must get the answer, not a reset.
    for size in (MAX_REPORT_BYTES + 1, 3 * MAX_REPORT_BYTES):
        request = urllib.request.Request(_url(relay), data=b" " * size, method="POST")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 413
        assert json.loads(answer.value.read())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert endpoint.received == []


def test_an_unreachable_endpoint_or_a_missing_token_answers_503_so_the_trainer_retries(
    token: Path, endpoint: ReportEndpointStub
) -> None:
    away = Relay("http://127.0.0.1:9/v1/reports", str(token), port=0)
    away.serve()
    try:
        assert httpx.post(_url(away), content=b"{}").status_code == 503
    finally:
        away.close()
    tokenless = Relay(endpoint.url, str(token.with_name("missing")), port=0)
    tokenless.serve()
    try:
        assert httpx.post(_url(tokenless), content=b"{}").status_code == 503
    finally:
        tokenless.close()
    assert endpoint.received == []


def test_the_trainers_status_sink_reports_through_the_relay_without_holding_a_token(
    endpoint: ReportEndpointStub, relay: Relay, tmp_path: Path
) -> None:
    import torch

    from tensorone_trainer.reporting.base import Reporter
    from tensorone_trainer.reporting.status import StatusSink, token_reader

    sink = StatusSink(_url(relay), token_reader(tmp_path / "no-token-here"), interval=60.0)
    reporter = Reporter(
        [sink], total_epochs=1, total_steps=5, throughput_unit="samples", device=torch.device("cpu")
    )
    reporter.step(step=5, epoch=1.0, loss=0.5, learning_rate=None, throughput=None)
    reporter.close(completed=True)  # the final report goes out at once and is forwarded before close returns
    *_, (_, auth, body) = endpoint.received
    assert auth == "Bearer eyJpod.token.one"
    assert json.loads(body)["progress"]["currentStep"] == 5
    assert json.loads(body)["final"] is True
    assert relay.final_forwarded.is_set()


@pytest.mark.parametrize(
    ("alive", "stop", "final", "why"),
    [
        ([True, True, False], False, False, "the trainer has ended"),
        ([False], True, False, "stopped, and no trainer runs"),
        ([True], False, True, "the trainer's last report was forwarded"),
        ([True, True, True, False], True, False, "the trainer has ended"),
    ],
    ids=["trainer-exited", "stop-without-trainer", "final-report", "stop-waits-for-the-trainer"],
)
def test_the_relay_ends_once_the_trainer_has(
    relay: Relay, alive: list[bool], stop: bool, final: bool, why: str
) -> None:
    answers = iter(alive)
    checks = []

    def trainer_alive() -> bool:
        checks.append(1)
        return next(answers, alive[-1])

    stopping = threading.Event()
    if stop:
        stopping.set()
    if final:
        relay.final_forwarded.set()
    assert run_until_trainer_ends(relay, stopping, trainer_alive, poll=0.01) == why
    if why == "the trainer has ended":
        assert len(checks) == len(alive)  # a stop alone did not end it while the trainer still ran


def test_the_trainers_sign_of_life_lasts_exactly_as_long_as_its_process() -> None:
    # In a network namespace of its own, as a pod (abstract socket names belong to the network namespace).
    script = """
import signal, subprocess, sys, time
from tensorone_trainer.alive import trainer_alive
assert not trainer_alive()
child = subprocess.Popen([sys.executable, "-c",
    "import time; from tensorone_trainer.alive import announce_alive; assert announce_alive(); time.sleep(60)"])
for _ in range(100):
    if trainer_alive():
        break
    time.sleep(0.05)
assert trainer_alive()
child.send_signal(signal.SIGKILL)
child.wait()
assert not trainer_alive()
print("ok")
"""
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
