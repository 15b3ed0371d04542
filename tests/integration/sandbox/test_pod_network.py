"""The sandbox's pod network on the real kernel: a pod keeps reaching the host while other pods come and go.

Each pod's traffic to the host (its reports, the API server) goes to the bridge's address. Two jobs side by side
lost their reports for ~20 s when the other job's pods were deleted: the bridge had taken the lowest MAC of its
ports, deleting that port changed it, and the remaining pods' ARP caches still held the old one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorone.sandbox.network import PodNetwork

CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0).close()"


@pytest.fixture
def network() -> Iterator[PodNetwork]:
    pods = PodNetwork.allocate()
    try:
        yield pods
    finally:
        pods.close()


def _connects_from(network: PodNetwork, pod: str, port: int) -> bool:
    """Whether a process in ``pod``'s namespace reaches the host's listener through the bridge within 1 s."""
    result = subprocess.run(
        [*network.nsenter_prefix(pod), sys.executable, "-c", CONNECT, network.gateway, str(port)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


def test_a_pod_reaches_the_host_at_once_after_the_other_pods_are_deleted(network: PodNetwork) -> None:
    listener = socket.create_server(("0.0.0.0", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        pods = [f"pod-{n}" for n in range(6)]
        for pod in pods:
            network.add_pod(pod)
        keeper, *others = pods
        bridge_address = Path(f"/sys/class/net/{network.bridge}/address")
        before = bridge_address.read_text().strip()
        assert _connects_from(network, keeper, port)  # its ARP cache now holds the host's MAC
        for pod in others:
            network.remove_pod(pod)
            assert bridge_address.read_text().strip() == before, "the host's MAC on the pod network changed"
        assert _connects_from(network, keeper, port), "the remaining pod lost the host after the others went"
    finally:
        listener.close()
