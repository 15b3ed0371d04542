"""Sandbox configuration: which fake GPU nodes exist, and the GPU product labels they advertise.

The product label values are the ones NVIDIA GPU Feature Discovery sets on real nodes; they live here, once, so
the scheduler, the nodes and the product's GPU catalog agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GPU_PRODUCTS: dict[str, str] = {
    "a100": "NVIDIA-A100-SXM4-80GB",
    "h100": "NVIDIA-H100-80GB-HBM3",
    "v100": "Tesla-V100-SXM2-16GB",
    "rtx4090": "NVIDIA-GeForce-RTX-4090",
}
# The PriorityClasses the Helm chart installs (charts/tensorone-training values.yaml defaults). The sandbox
# starts with them, as a cluster with the platform installed has them; pods naming another class get 403.
PRODUCT_PRIORITY_CLASSES: tuple[dict[str, object], ...] = (
    {"name": "tensorone-high", "value": 10000, "preemptionPolicy": "PreemptLowerPriority"},
    {"name": "tensorone-normal", "value": 1000, "preemptionPolicy": "PreemptLowerPriority"},
    {"name": "tensorone-low", "value": 100, "preemptionPolicy": "Never"},
)
GPU_MEMORY_MIB: dict[str, int] = {"a100": 81920, "h100": 81559, "v100": 16384, "rtx4090": 24564}


@dataclass(frozen=True)
class NodeSpec:
    """One fake node: its name, GPU type and count, CPU/memory capacity, extra labels and taints."""

    name: str
    gpu_type: str | None = None
    gpus: int = 0
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()


def parse_gpus(text: str) -> list[NodeSpec]:
    """Parse ``a100=8,h100=0`` into one node per GPU type (``sandbox-a100``...); unknown types are refused."""
    nodes: list[NodeSpec] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        gpu_type, _, count = item.partition("=")
        gpu_type = gpu_type.strip().lower()
        if gpu_type not in GPU_PRODUCTS:
            raise ValueError(f"unknown GPU type {gpu_type!r}; known: {', '.join(sorted(GPU_PRODUCTS))}")
        try:
            gpus = int(count or "1")
        except ValueError as exc:
            raise ValueError(f"GPU count for {gpu_type!r} must be an integer, got {count!r}") from exc
        nodes.append(NodeSpec(name=f"sandbox-{gpu_type}", gpu_type=gpu_type, gpus=gpus))
    return nodes


def load_nodes_file(path: Path) -> list[NodeSpec]:
    """Read nodes from YAML: ``nodes: [{name, gpuType, gpus, cpu, memory, labels, taints}]``."""
    document: Any = yaml.safe_load(path.read_text()) or {}
    nodes = []
    for entry in document.get("nodes", []):
        gpu_type = entry.get("gpuType")
        if gpu_type is not None and gpu_type not in GPU_PRODUCTS:
            raise ValueError(f"{path}: unknown gpuType {gpu_type!r}")
        nodes.append(
            NodeSpec(
                name=entry["name"],
                gpu_type=gpu_type,
                gpus=int(entry.get("gpus", 0)),
                cpu=str(entry.get("cpu", "32")),
                memory=str(entry.get("memory", "256Gi")),
                pods=int(entry.get("pods", 110)),
                labels=dict(entry.get("labels") or {}),
                taints=tuple(entry.get("taints") or ()),
            )
        )
    return nodes


def node_specs(gpus: str | list[NodeSpec] | None) -> list[NodeSpec]:
    """Nodes from a ``--gpus`` string, a YAML path, an explicit list, or the default (one a100 node, 8 GPUs)."""
    if gpus is None:
        return [NodeSpec(name="sandbox-a100", gpu_type="a100", gpus=8)]
    if isinstance(gpus, list):
        return gpus
    if gpus.endswith((".yaml", ".yml")):
        return load_nodes_file(Path(gpus))
    return parse_gpus(gpus)
