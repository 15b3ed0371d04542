"""The whole platform for system tests: sandbox, REST facade, the real operator process and the real trainer.

Everything a user touches goes through the REST API (the SDK); the tests reach below it only to do what a user
cannot (kill a worker or the operator) or to observe what Kubernetes shows (pods, the job's status).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tensorone.api.names import JOB_LABEL
from tensorone.facade.testing import free_port, running_facade
from tensorone.sandbox.components import report_endpoint_settings
from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.models import TrainingJob

NAMESPACE = "tensorone-default"
DATASETS = "/datasets"
T = TypeVar("T")

# The sandbox's stand-in for Helm values: a dataset volume and timings short enough for tests.
OPERATOR_SETTINGS = {
    "datasetVolumeClaim": "datasets",
    "terminationGracePeriodSeconds": 60,
    "reportIntervalSeconds": 0.5,
    "resyncSeconds": 2.0,
    "usageFlushSeconds": 1.0,
    "watchTimeoutSeconds": 60,
}


class Platform:
    """Handles on every part, plus what a test needs to act like a user or like a failing machine."""

    def __init__(self, sandbox: RunningSandbox, client: TensorOneClient, settings: Path) -> None:
        self.sandbox = sandbox
        self.client = client
        self.settings = settings
        self.kube = sandbox.http(timeout=30)
        self.operator: subprocess.Popen[bytes] | None = None
        self.operator_starts = 0

    @property
    def dataset_volume(self) -> Path:
        return self.sandbox.dir / "volumes" / NAMESPACE / "datasets"

    def start_operator(self) -> None:
        log = open(self.sandbox.dir / f"operator-{self.operator_starts}.log", "wb")  # noqa: SIM115
        self.operator_starts += 1
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "tensorone", "operator", "--kubeconfig", str(self.sandbox.kubeconfig_path),
             "--config", str(self.settings)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        log.close()

    def kill_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.send_signal(signal.SIGKILL)
            self.operator.wait(10)

    def diagnosis(self, job_id: str) -> str:
        """What a person would look at when a job does not move: its conditions, its pods, the operator's log."""
        status = self.job_resource(job_id).get("status") or {}
        conditions = [
            (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
        ]
        pods = [
            (p["metadata"]["name"], (p.get("status") or {}).get("phase"), p.get("spec", {}).get("nodeName"),
             [c.get("state") for c in (p.get("status") or {}).get("containerStatuses") or []])
            for p in self.pods(job_id)
        ]  # fmt: skip
        alive = self.operator is not None and self.operator.poll() is None
        log = self.sandbox.dir / f"operator-{self.operator_starts - 1}.log"
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
        return "\n".join(
            [
                f"phase={status.get('phase')} conditions={conditions}",
                f"pods={pods}",
                f"operator alive={alive}",
                *tail,
            ]
        )

    def job_resource(self, job_id: str) -> dict[str, Any]:
        """The TrainingJob as ``kubectl get -o json`` shows it."""
        name = job_id.replace("_", "-")
        response = self.kube.get(f"/apis/training.tensorone.ai/v1/namespaces/{NAMESPACE}/trainingjobs/{name}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def pods(self, job_id: str) -> list[dict[str, Any]]:
        name = job_id.replace("_", "-")
        response = self.kube.get(
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            params={"labelSelector": f"{JOB_LABEL}={name}"},
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def wait_job(
        self, job_id: str, predicate: Callable[[TrainingJob], bool], what: str, timeout: float = 240
    ) -> TrainingJob:
        deadline = time.monotonic() + timeout
        job = self.client.training.jobs.get(job_id)
        while not predicate(job):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {job.status} {job.progress} {job.error}\n"
                    + self.diagnosis(job_id)
                )
            time.sleep(0.3)
            job = self.client.training.jobs.get(job_id)
        return job

    def wait_finished(self, job_id: str, timeout: float = 300) -> TrainingJob:
        return self.wait_job(
            job_id,
            lambda j: j.status in {"completed", "failed", "cancelled", "stopped"},
            "a final status",
            timeout,
        )


def until(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def write_operator_settings(path: Path, sandbox: RunningSandbox) -> None:
    """OPERATOR_SETTINGS plus where workers report: the operator runs on this machine, and pods reach it at the
    pod network's gateway (the API server's address), over HTTPS as the chart sets it up."""
    report = report_endpoint_settings(sandbox.url, free_port(), path.parent / "report-tls")
    path.write_text(yaml.safe_dump({**OPERATOR_SETTINGS, **report}))


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    settings = tmp_path / "operator.yaml"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with (
        running_sandbox(tmp_path / "sandbox", gpus="a100=4,rtx4090=1") as sandbox,
        running_facade(str(sandbox.kubeconfig_path)) as facade,
    ):
        write_operator_settings(settings, sandbox)
        client = TensorOneClient(api_key=facade.new_key("default"), base_url=facade.url, timeout=30)
        system = Platform(sandbox, client, settings)
        system.start_operator()
        try:
            yield system
        finally:
            system.kill_operator()
            system.kube.close()
            client.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama + tokenizer trained on real text, built once per session."""
    from tensorone_trainer.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("model") / "tiny-llama")


def put_language_assets(platform: Platform, tiny_model: Path, records: list[str]) -> tuple[str, str]:
    """Copy the model and write a JSONL dataset onto the dataset volume; returns their in-cluster paths."""
    import json
    import shutil

    target = platform.dataset_volume / "models" / "tiny-llama"
    shutil.copytree(tiny_model, target)
    # Workers run as the trainer image's non-root user: the uploaded model must be readable by it (safetensors
    # writes its file 0600, and the test runs as root).
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    data = platform.dataset_volume / "text" / "train.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"text": r}) + "\n" for r in records), encoding="utf-8")
    return f"{DATASETS}/models/tiny-llama", f"{DATASETS}/text/train.jsonl"


def lora_config(model: str, **training: Any) -> dict[str, Any]:
    return {
        "baseModel": model,
        "parameters": {"rank": 4, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        "training": {
            "epochs": 2,
            "batch_size": 4,
            "learning_rate": 0.01,
            "max_seq_length": 48,
            "seed": 7,
            **training,
        },
    }


def learnable_records(n: int) -> list[str]:
    sentences = [
        "Beautiful is better than ugly.", "Explicit is better than implicit.", "Simple is better than complex.",
        "Complex is better than complicated.", "Flat is better than nested.", "Sparse is better than dense.",
        "Readability counts.", "Errors should never pass silently.",
    ]  # fmt: skip
    return [" ".join(sentences[(i + j) % len(sentences)] for j in range(3)) for i in range(n)]


def worker_process_groups(job_id: str, worker: int, attempt: int) -> set[int]:
    """Process groups of a worker pod's container (found by the env the operator gives worker pods)."""
    name = job_id.replace("_", "-")
    wanted = {f"TENSORONE_WORKER_INDEX={worker}".encode(), f"TENSORONE_ATTEMPT={attempt}".encode()}
    groups = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
            pgid = os.getpgid(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
        job_dir = [v for v in environ if v.startswith(b"TENSORONE_JOB_DIR=") and v.endswith(name.encode())]
        if wanted <= environ and job_dir:
            groups.add(pgid)
    return groups
