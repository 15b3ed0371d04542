"""An operator (the real `tensorone operator` process) against a sandbox cluster, and a small HTTP client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tensorone.api.names import JOB_LABEL
from tensorone.sandbox.components import report_endpoint_settings
from tensorone.sandbox.testing import RunningSandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[3]
FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")
JOBS = "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs"
DATASETS = "/apis/training.tensorone.ai/v1/namespaces/default/datasets"
PODS = "/api/v1/namespaces/default/pods"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fake_code(**options: Any) -> str:
    lines = [f"# fake: {key}={value}" for key, value in options.items()]
    return "\n".join([*lines, "def train(context):", "    pass", ""])


class Cluster:
    """HTTP access to the sandbox plus the operator process(es) under test."""

    def __init__(self, sandbox: RunningSandbox, settings_path: Path, report_port: int) -> None:
        self.sandbox = sandbox
        self.report_port = report_port
        self.http = sandbox.http(timeout=30)
        self.settings_path = settings_path
        self.operators: list[subprocess.Popen[bytes]] = []

    def configure(self, **settings: Any) -> None:
        """Change operator settings (camelCase keys) for the operators started after this."""
        current = yaml.safe_load(self.settings_path.read_text())
        self.settings_path.write_text(yaml.safe_dump({**current, **settings}))

    def operator_log(self, index: int = 0) -> str:
        return (self.sandbox.dir / f"operator-{index}.log").read_text()

    def start_operator(self, *args: str, log_level: str | None = None) -> subprocess.Popen[bytes]:
        # TENSORONE_TEST_OPERATOR_LOG=INFO: the operator's whole story in the sandbox folder, to chase a flake.
        log_level = log_level or os.environ.get("TENSORONE_TEST_OPERATOR_LOG", "WARNING")
        log = open(self.sandbox.dir / f"operator-{len(self.operators)}.log", "wb")  # noqa: SIM115
        if not any(p.poll() is None for p in self.operators):
            # One process may listen on the report port (a second, racing operator serves no reports here; on a
            # cluster each operator pod has its own address).
            args = ("--report-port", str(self.report_port), *args)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorone",
                "operator",
                "--kubeconfig",
                str(self.sandbox.kubeconfig_path),
                "--config",
                str(self.settings_path),
                "--log-level",
                log_level,
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.operators.append(process)
        return process

    def kill_operators(self) -> None:
        for process in self.operators:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)

    def create_job(self, name: str, dataset: str = "ds-1", **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "training.tensorone.ai/v1",
            "kind": "TrainingJob",
            "metadata": {"name": name},
            "spec": {
                "displayName": name,
                "modelType": "custom",
                "datasetRef": {"name": dataset},
                "config": {"customCode": fake_code()},
                "gpuType": "a100",
                **spec,
            },
        }
        response = self.http.post(JOBS, json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get(f"{JOBS}/{name}").json()
        return result

    def patch_spec(self, name: str, **spec: Any) -> None:
        response = self.http.patch(
            f"{JOBS}/{name}", json={"spec": spec}, headers={"Content-Type": "application/merge-patch+json"}
        )
        assert response.status_code == 200, response.text

    def pods(self, job: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.http.get(
            PODS, params={"labelSelector": f"{JOB_LABEL}={job}"}
        ).json()["items"]
        return items

    def events(self, job: str) -> list[dict[str, Any]]:
        items = self.http.get("/api/v1/namespaces/default/events").json()["items"]
        return [e for e in items if e.get("involvedObject", {}).get("name") == job]

    def wait(
        self,
        what: str,
        predicate: Callable[[], Any],
        timeout: float = 30.0,
        explain: Callable[[], object] | None = None,
    ) -> Any:
        """``predicate``'s first true value; on timeout, the failure shows ``explain()`` (what was seen instead)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}" + (f": {explain()}" if explain else ""))

    def wait_phase(self, name: str, *phases: str, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            job = self.job(name)
            return job if (job.get("status") or {}).get("phase") in phases else None

        try:
            result: dict[str, Any] = self.wait(f"{name} in {phases}", check, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}; status: {self.job(name).get('status')}") from None
        return result


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    settings = {
        "trainerImage": "sandbox/fake-trainer",
        "trainerCommand": [sys.executable, "-S", str(FAKE_TRAINER)],
        "terminationGracePeriodSeconds": 3,
        "stallWindowSeconds": 2,
        "resyncSeconds": 2,
        "usageFlushSeconds": 1,
        "reportIntervalSeconds": 0.5,
        "watchTimeoutSeconds": 60,
    }
    settings_path = tmp_path / "operator.yaml"
    report_port = free_port()
    with running_sandbox(tmp_path / "sandbox", gpus="a100=8") as sandbox:
        # Pods reach the host (where the operator runs) at the pod network's gateway, over HTTPS.
        report = report_endpoint_settings(sandbox.url, report_port, tmp_path / "report-tls")
        settings.update({key: value for key, value in report.items() if key != "reportPort"})  # --report-port
        settings_path.write_text(yaml.safe_dump(settings))
        cluster = Cluster(sandbox, settings_path, report_port)
        sandbox.install_product_crds()
        dataset = {
            "apiVersion": "training.tensorone.ai/v1",
            "kind": "Dataset",
            "metadata": {"name": "ds-1"},
            "spec": {"displayName": "d", "format": "jsonl", "source": "/datasets/train.jsonl"},
        }
        assert cluster.http.post(DATASETS, json=dataset).status_code == 201
        try:
            yield cluster
        finally:
            cluster.kill_operators()
            cluster.http.close()
