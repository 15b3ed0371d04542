"""What ``kubectl get`` and ``kubectl explain`` show of a TrainingJob: readable numbers and the job's own name,
and the documented fields of its spec. The status is written as the trainer and the operator serialize it (their
models), so the test fails if a writer or the CRD's columns drift."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tensorone.api.ids import id_to_name
from tensorone.api.spec import DATASET_PLURAL, TRAINING_JOB_PLURAL
from tensorone.api.status import Metrics, Progress, ResourceUsage
from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tensorone_trainer.reporting.base import StatusSnapshot

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
NAME = id_to_name("job_0123456789abcdef")
# Explicit: the sandbox's kubeconfig context points at its account's namespace, which may not exist here.
NAMESPACE = "default"
DATASET = id_to_name("ds_0123456789abcdef")


def kubectl(sandbox: RunningSandbox, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig_path), "--namespace", NAMESPACE, *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def eventually(sandbox: RunningSandbox, *args: str, timeout: float = 30) -> str:
    """``kubectl ARGS`` once it succeeds: a real API server establishes a new CRD, and publishes its OpenAPI,
    a moment after creating it."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig_path), "--namespace", NAMESPACE, *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return done.stdout
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox with the generated CRDs and one job whose status the trainer and the operator wrote."""
    with running_sandbox(tmp_path_factory.mktemp("kubectl") / "sandbox") as sandbox:
        kubectl(sandbox, "apply", "-f", str(ROOT / "crds"))
        eventually(sandbox, "get", TRAINING_JOB_PLURAL)
        job = {
            "apiVersion": "training.tensorone.ai/v1", "kind": "TrainingJob", "metadata": {"name": NAME},
            "spec": {"displayName": "docs LoRA, run 2", "modelType": "custom", "datasetRef": {"name": "ds-1"},
                     "config": {"customCode": "def train(context):\n    pass\n"}, "gpuType": "a100"},
        }  # fmt: skip
        dataset = {
            "apiVersion": "training.tensorone.ai/v1", "kind": "Dataset", "metadata": {"name": DATASET},
            "spec": {"displayName": "python docs", "format": "jsonl", "source": "/datasets/docs.jsonl"},
        }  # fmt: skip
        for manifest in (job, dataset):
            kubectl(sandbox, "apply", "-f", "-", stdin=json.dumps(manifest))
        trainer = StatusSnapshot(
            progress=Progress(current_step=851, total_steps=2000, percentage=42.57),
            metrics=Metrics(current_loss=0.123456789),
            checkpoints=[], history=[], last_report_time=datetime.now(UTC),
        ).to_status_patch(with_history=False)  # fmt: skip
        operator = {
            "phase": "running",
            "resourceUsage": ResourceUsage(gpu_seconds=3017.0, cost=1.2567).to_wire(),
        }
        for status in (trainer, operator):
            kubectl(
                sandbox, "patch", TRAINING_JOB_PLURAL, NAME, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": status}),
            )  # fmt: skip
        yield sandbox


def test_kubectl_get_shows_the_display_name_and_rounded_progress_loss_and_cost(
    cluster: RunningSandbox,
) -> None:
    header, row = kubectl(cluster, "get", TRAINING_JOB_PLURAL).splitlines()
    columns = [c.strip() for c in header.split("  ") if c.strip()]
    assert columns == ["NAME", "DISPLAY NAME", "STATUS", "PROGRESS", "LOSS", "GPU", "WORKERS", "COST", "AGE"]
    starts = [header.index(c) for c in columns] + [None]
    cells = {c: row[starts[i] : starts[i + 1]].strip() for i, c in enumerate(columns)}
    assert {k: v for k, v in cells.items() if k != "AGE"} == {
        "NAME": NAME, "DISPLAY NAME": "docs LoRA, run 2", "STATUS": "running", "PROGRESS": "42%",
        "LOSS": "0.1235", "GPU": "a100", "WORKERS": "1", "COST": "$1.26",
    }  # fmt: skip


def test_kubectl_get_datasets_shows_their_display_names(cluster: RunningSandbox) -> None:
    table = kubectl(cluster, "get", DATASET_PLURAL).splitlines()
    assert table[0].split()[:3] == ["NAME", "DISPLAY", "NAME"]
    assert table[1].split()[:3] == [DATASET, "python", "docs"]


def test_kubectl_explain_describes_the_spec_fields(cluster: RunningSandbox) -> None:
    text = eventually(cluster, "explain", "trainingjob.spec")
    assert "A training job: the model type and its config" in text
    for field in ("displayName", "modelType", "datasetRef", "maxWorkers", "suspend", "runPolicy"):
        assert f"   {field}\t<" in text
    loss = kubectl(cluster, "explain", "trainingjob.status.metrics.lossDisplay")
    assert "currentLoss to 4 significant digits" in loss
