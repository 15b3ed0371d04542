"""Node objects for the fake nodes, labelled the way GPU Feature Discovery and the kubelet label real ones."""

from __future__ import annotations

import platform
from typing import Any

from tensorone.sandbox.config import GPU_MEMORY_MIB, GPU_PRODUCTS, NodeSpec


def build_node(spec: NodeSpec) -> dict[str, Any]:
    """The Node manifest (with status) for one fake node."""
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "sandbox",
        **spec.labels,
    }
    capacity = {"cpu": spec.cpu, "memory": spec.memory, "pods": str(spec.pods), "ephemeral-storage": "100Gi"}
    if spec.gpu_type is not None:
        labels["nvidia.com/gpu.product"] = GPU_PRODUCTS[spec.gpu_type]
        labels["nvidia.com/gpu.count"] = str(spec.gpus)
        labels["nvidia.com/gpu.memory"] = str(GPU_MEMORY_MIB[spec.gpu_type])
        labels["nvidia.com/gpu.present"] = "true"
        capacity["nvidia.com/gpu"] = str(spec.gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {"taints": list(spec.taints)} if spec.taints else {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": spec.name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0-sandbox",
                "containerRuntimeVersion": "tensorone-sandbox://local-process",
                "osImage": platform.platform(),
                "kernelVersion": platform.release(),
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
