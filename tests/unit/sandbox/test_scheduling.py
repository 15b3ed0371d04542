"""Scheduler filters and messages, node configuration, quantities and path rewriting (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tensorone.sandbox.config import GPU_PRODUCTS, NodeSpec, parse_gpus
from tensorone.sandbox.environment import rewrite_paths
from tensorone.sandbox.nodes import build_node
from tensorone.sandbox.quantity import parse_quantity
from tensorone.sandbox.scheduler import unfit_reasons, unschedulable_message


def _pod(**spec: Any) -> dict[str, Any]:
    gpus = spec.pop("gpus", 0)
    container = {"name": "c", "resources": {"requests": {"nvidia.com/gpu": str(gpus)}} if gpus else {}}
    return {"metadata": {"name": "p"}, "spec": {"containers": [container], **spec}}


NODE = build_node(
    NodeSpec("n", "h100", 2, taints=({"key": "dedicated", "value": "ml", "effect": "NoSchedule"},))
)


@pytest.mark.parametrize(
    ("pod", "used", "reasons"),
    [
        pytest.param(
            _pod(gpus=2, tolerations=[{"key": "dedicated", "operator": "Exists"}]), {}, [], id="fits"
        ),
        pytest.param(
            _pod(gpus=1, tolerations=[{"key": "dedicated", "operator": "Exists"}]),
            {"nvidia.com/gpu": 2},
            ["Insufficient nvidia.com/gpu"],
            id="gpus-in-use",
        ),
        pytest.param(_pod(), {}, ["node(s) had untolerated taint {dedicated: ml}"], id="taint"),
        pytest.param(
            _pod(nodeSelector={"nvidia.com/gpu.product": GPU_PRODUCTS["a100"]}),
            {},
            ["node(s) didn't match Pod's node affinity/selector"],
            id="selector",
        ),
    ],
)
def test_unfit_reasons(pod: dict[str, Any], used: dict[str, float], reasons: list[str]) -> None:
    assert unfit_reasons(pod, NODE, used) == reasons


def test_unschedulable_message_matches_kube_scheduler_wording() -> None:
    message = unschedulable_message(
        2, Counter({"Insufficient nvidia.com/gpu": 1, "node(s) didn't match Pod's node affinity/selector": 1})
    )
    assert message == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector."
        " preemption: 0/2 nodes are available: 1 Preemption is not helpful for scheduling, 1 No preemption victims"
        " found for incoming pod."
    )


def test_gpu_nodes_carry_feature_discovery_labels_and_allocatable() -> None:
    node = build_node(parse_gpus("a100=8,h100=0")[0])
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert node["metadata"]["labels"]["nvidia.com/gpu.count"] == "8"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"


def test_unknown_gpu_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown GPU type"):
        parse_gpus("tpu=4")


@pytest.mark.parametrize(("text", "value"), [("500m", 0.5), ("2", 2.0), ("1Gi", 2.0**30), ("1k", 1000.0)])
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("/checkpoints", "/sb/ckpt", id="exact"),
        pytest.param("/checkpoints/run-1", "/sb/ckpt/run-1", id="prefix"),
        pytest.param("--out=/checkpoints", "--out=/sb/ckpt", id="after-equals"),
        pytest.param("/checkpoints-old", "/checkpoints-old", id="different-path"),
        pytest.param("/data/checkpoints", "/data/checkpoints", id="not-a-prefix"),
    ],
)
def test_mount_paths_are_rewritten_only_as_path_prefixes(value: str, expected: str) -> None:
    assert rewrite_paths(value, {"/checkpoints": "/sb/ckpt"}) == expected
