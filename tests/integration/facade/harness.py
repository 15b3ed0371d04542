"""Shared by the facade, SDK and CLI integration tests: a sandbox with the facade in front of it, accounts,
and direct access to the cluster (as the operator and kubectl have it)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tensorone.facade.testing import RunningFacade
from tensorone.sandbox.testing import RunningSandbox

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
JOBS_PATH = "/apis/training.tensorone.ai/v1/namespaces/{ns}/trainingjobs"
_counter = itertools.count()

LLM_CONFIG = {"baseModel": "gpt2", "training": {"epochs": 1, "learning_rate": 0.0002}}


def shape_a(dataset_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": "llm-job", "modelType": "llm", "datasetId": dataset_id, "config": LLM_CONFIG, **extra}


def shape_b(dataset_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "compact-job",
        "framework": "pytorch",
        "modelConfig": {"modelType": "language_model", "baseModel": "gpt2"},
        "datasetConfig": {"datasetId": dataset_id},
        "hyperparameters": {"learningRate": 0.001, "batchSize": 8, "epochs": 1},
        "infrastructure": {"gpuType": "a100", "gpuCount": 1},
        **extra,
    }


@dataclass
class Account:
    """One tenant: its API key, a client authenticated with it, and its namespace."""

    name: str
    key: str
    namespace: str
    api: httpx.Client

    def dataset(self, name: str = "data") -> str:
        response = self.api.post(
            "/v2/datasets", json={"name": name, "format": "jsonl", "source": "/datasets/t.jsonl"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def job(self, dataset_id: str | None = None, **extra: Any) -> str:
        response = self.api.post("/v2/training/jobs", json=shape_a(dataset_id or self.dataset(), **extra))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


class Cluster:
    """The sandbox as the operator and kubectl see it."""

    def __init__(self, sandbox: RunningSandbox):
        self.http = sandbox.http(timeout=30)
        self.kubeconfig = sandbox.kubeconfig_path

    def job(self, ns: str, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"{JOBS_PATH.format(ns=ns)}/{job_id.replace('_', '-')}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def set_status(self, ns: str, job_id: str, status: dict[str, Any]) -> None:
        """Write status as the operator/trainer would (status subresource)."""
        response = self.http.patch(
            f"{JOBS_PATH.format(ns=ns)}/{job_id.replace('_', '-')}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        response.raise_for_status()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def new_account(facade: RunningFacade, prefix: str = "acct") -> Account:
    name = f"{prefix}-{next(_counter)}"
    key = facade.new_key(name)
    api = httpx.Client(base_url=facade.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Account(name, key, facade.settings.namespace_of(name), api)


CHECKPOINTS = [
    {"id": "ckpt_epoch_1", "epoch": 1, "step": 10, "loss": 1.5, "createdAt": "2024-01-15T10:30:00Z",
     "size": "1.0MB", "sizeBytes": 1000000},
    {"id": "ckpt_epoch_2", "epoch": 2, "step": 20, "loss": 1.2, "createdAt": "2024-01-15T10:40:00Z",
     "size": "1.0MB", "sizeBytes": 1000000},
]  # fmt: skip
