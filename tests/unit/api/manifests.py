"""Builders of TrainingJob manifests for the contract tests."""

from __future__ import annotations

import copy
from typing import Any


def llm_job(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "displayName": "Llama LoRA",
        "modelType": "llm",
        "datasetRef": {"name": "ds-0123456789abcdef"},
        "config": {
            "baseModel": "meta-llama/Llama-2-7b-hf",
            "parameters": {"rank": 16, "target_modules": ["q_proj", "v_proj"]},
            "training": {"epochs": 2, "batch_size": 4, "learning_rate": 2e-4},
        },
        "gpuType": "a100",
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": "job-0123456789abcdef", "namespace": "default"},
        "spec": spec,
    }


def vision_job(**spec_overrides: Any) -> dict[str, Any]:
    job = llm_job(
        modelType="vision", config={"architecture": "yolov8s", "input_size": [640, 640], "num_classes": 3}
    )
    job["spec"].update(spec_overrides)
    return job


def custom_job(**spec_overrides: Any) -> dict[str, Any]:
    job = llm_job(modelType="custom", config={"customCode": "def train(context):\n    return None\n"})
    job["spec"].update(spec_overrides)
    return job


def with_config(job: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``job`` with ``spec.config.<path>`` (dotted) set to ``value``."""
    job = copy.deepcopy(job)
    node = job["spec"]["config"]
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return job
