"""What a person meets first with the CLI: ``--version``, jobs found by name, events/metrics/checkpoints,
``list --watch``, why a watched job failed, and what to set when the API cannot be reached."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from tensorone.cli.main import app
from tests.integration.facade.harness import CHECKPOINTS, Account, Cluster

runner = CliRunner()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"tensorone {version('tensorone-training')}\n")


def test_a_job_is_found_by_its_id_its_kubernetes_name_and_its_name(env: Account) -> None:
    name = _unique("find-me")
    job_id = env.job(name=name)
    for ref in (job_id, job_id.replace("_", "-"), name):
        result = runner.invoke(app, ["jobs", "get", ref, "-o", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["id"] == job_id


def test_a_name_several_jobs_share_is_refused_listing_their_ids(env: Account) -> None:
    name = _unique("twin")
    dataset = env.dataset()
    ids = {env.job(dataset, name=name), env.job(dataset, name=name)}
    result = runner.invoke(app, ["jobs", "stop", name])
    assert result.exit_code == 2
    assert "2 jobs have that name" in result.output
    assert all(job_id in result.output for job_id in ids)
    statuses = {env.api.get(f"/v2/training/jobs/{job_id}").json()["status"] for job_id in ids}
    assert "stopping" not in statuses


def test_an_unknown_name_is_job_not_found(env: Account) -> None:
    result = runner.invoke(app, ["jobs", "get", _unique("nobody")])
    assert result.exit_code == 3
    assert "JOB_NOT_FOUND" in result.output


def test_events_metrics_and_checkpoints_of_a_job_by_name(env: Account, cluster: Cluster) -> None:
    name = _unique("history")
    job_id = env.job(name=name)
    cr_name = job_id.replace("_", "-")
    event = {
        "metadata": {"name": f"{cr_name}.admitted"},
        "involvedObject": {"kind": "TrainingJob", "name": cr_name, "namespace": env.namespace},
        "type": "Normal", "reason": "Admitted", "message": "1 worker x 1 a100", "count": 1,
        "lastTimestamp": "2024-01-15T10:29:00Z",
    }  # fmt: skip
    cluster.http.post(f"/api/v1/namespaces/{env.namespace}/events", json=event).raise_for_status()
    history = [
        {"step": 1, "epoch": 0.1, "loss": 2.123456, "learningRate": 0.0002, "time": "2024-01-15T10:30:00Z"},
        {"step": 2, "epoch": 0.2, "loss": 1.987654, "learningRate": 0.0002, "time": "2024-01-15T10:30:05Z"},
    ]
    cluster.set_status(env.namespace, job_id, {"history": history, "checkpoints": CHECKPOINTS})

    events = runner.invoke(app, ["jobs", "events", name])
    assert events.exit_code == 0, events.output
    assert "Admitted" in events.output
    assert "1 worker x 1 a100" in events.output

    table = runner.invoke(app, ["jobs", "metrics", name])
    assert table.exit_code == 0, table.output
    rows = [line.split() for line in table.output.splitlines()[1:]]
    assert [(row[0], row[2]) for row in rows] == [("1", "2.1235"), ("2", "1.9877")]
    as_json = json.loads(runner.invoke(app, ["jobs", "metrics", job_id, "-o", "json"]).output)
    assert [(p["step"], p["loss"]) for p in as_json["points"]] == [(1, 2.123456), (2, 1.987654)]

    checkpoints = runner.invoke(app, ["jobs", "checkpoints", name])
    assert checkpoints.exit_code == 0, checkpoints.output
    assert [line.split()[0] for line in checkpoints.output.splitlines()[1:]] == [
        "ckpt_epoch_1",
        "ckpt_epoch_2",
    ]


def test_watch_of_a_failed_job_prints_why_and_exits_1(env: Account, cluster: Cluster) -> None:
    job_id = env.job(name=_unique("doomed"))
    cluster.set_status(
        env.namespace, job_id,
        {"phase": "failed", "error": {"reason": "ConfigurationError",
                                      "message": "dataset line 3: not valid JSON"}},
    )  # fmt: skip
    result = runner.invoke(app, ["jobs", "watch", job_id, "--interval", "0.1"])
    assert result.exit_code == 1
    assert "job failed ConfigurationError: dataset line 3: not valid JSON" in result.output


def test_watch_of_a_completed_job_exits_0(env: Account, cluster: Cluster) -> None:
    job_id = env.job(name=_unique("done"))
    cluster.set_status(env.namespace, job_id, {"phase": "completed"})
    result = runner.invoke(app, ["jobs", "watch", job_id, "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "failed" not in result.output


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    "command", [["jobs", "list"], ["jobs", "logs", "-f", "job_0123456789abcdef"]], ids=["request", "stream"]
)
def test_an_unreachable_api_names_the_url_and_what_to_set(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    url = _closed_port_url()
    monkeypatch.setenv("TENSORONE_API_KEY", "t1_anything")
    monkeypatch.setenv("TENSORONE_BASE_URL", url)
    result = runner.invoke(app, command)
    assert result.exit_code == 7
    message = " ".join(result.output.split())
    assert f"cannot reach the TensorOne API at {url} (TENSORONE_BASE_URL)" in message
    assert (
        "export TENSORONE_BASE_URL=$(cat .sandbox/api-url) TENSORONE_API_KEY=$(cat .sandbox/api-key)"
        in message
    )


def test_a_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENSORONE_API_KEY", raising=False)
    result = runner.invoke(app, ["jobs", "get", "some-job"])
    assert result.exit_code == 4
    assert "no API key. Set TENSORONE_API_KEY" in " ".join(result.output.split())


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], text: str, timeout: float = 30) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.2))
        except queue.Empty:
            continue
        if text in seen[-1]:
            return seen[-1]
    raise AssertionError(f"{text!r} not printed; got {''.join(seen)!r}")


def test_list_watch_shows_new_jobs_and_their_changes_until_ctrl_c(env: Account, cluster: Cluster) -> None:
    first = env.job(name=_unique("watched"))
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorone", "jobs", "list", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        lines = _lines(process)
        _wait_for(lines, first)
        second = env.job(name=_unique("watched"))
        _wait_for(lines, second)
        cluster.set_status(env.namespace, second, {"phase": "running", "progress": {"percentage": 42.0}})
        assert "running" in _wait_for(lines, second)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
