"""Pod networking for the sandbox's node agent: each pod in its own network namespace with its own IP.

As a CNI bridge plugin does on a node: one Linux bridge per sandbox (``tob<N>``, gateway ``10.234.N.1/24``) and,
per pod, a network namespace with a veth pair whose host end joins the bridge. Pods reach each other and the
API server (which listens on the gateway address) directly, so two pods may listen on the same port and a
pod's IP is its own. Sandboxes running side by side take different ``N``: an exclusive lock per index under
``/run/tensorone-sandbox`` (released by the kernel when the process dies, so a crashed sandbox's index is
reclaimed and its stale bridge and namespaces removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SUBNET_PREFIX = "10.234"
LOCK_DIR = Path("/run/tensorone-sandbox/net")
NETNS_DIR = Path("/run/netns")


class NetworkError(RuntimeError):
    """The pod network could not be set up (not root, no ``ip`` command, kernel without bridges/veth)."""


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")


def _quiet_ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, check=False)


@dataclass
class PodNetwork:
    """The bridge of one sandbox and the pod namespaces attached to it."""

    index: int
    _lock: IO[str] | None = None
    _free: list[int] = field(default_factory=list)
    _pods: dict[str, int] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"tob{self.index}"

    @property
    def bridge_mac(self) -> str:
        """Locally administered (0x02 first octet), one per sandbox index."""
        return f"02:74:6f:00:{self.index:02x}:01"

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: where pods reach the API server and the kubelet endpoints."""
        return f"{SUBNET_PREFIX}.{self.index}.1"

    @property
    def cidr(self) -> str:
        return f"{SUBNET_PREFIX}.{self.index}.0/24"

    @property
    def _netns_prefix(self) -> str:
        return f"to{self.index}-"

    @property
    def _veth_prefix(self) -> str:
        return f"tv{self.index}p"

    def netns_name(self, host: int) -> str:
        return f"{self._netns_prefix}{host}"

    def veth_name(self, host: int) -> str:
        """The host end of the veth pair of the pod at address ``host`` (joined to the bridge)."""
        return f"{self._veth_prefix}{host}"

    def owns(self, name: str) -> bool:
        """Whether a network namespace or link of this name is this sandbox network's (its bridge, pod veths and
        pod namespaces)."""
        return name == self.bridge or name.startswith((self._netns_prefix, self._veth_prefix))

    def netns_path(self, ip: str) -> Path:
        return NETNS_DIR / self.netns_name(int(ipaddress.ip_address(ip)) & 0xFF)

    @classmethod
    def allocate(cls) -> PodNetwork:
        """Take a free sandbox index (lock held for this process's life) and create its bridge."""
        if os.geteuid() != 0:
            raise NetworkError("the sandbox gives each pod its own network namespace, which needs root")
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        for index in range(1, 255):
            handle = open(LOCK_DIR / f"{index}.lock", "w")  # noqa: SIM115 - held for the sandbox's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            network = cls(index, handle)
            network._create_bridge()
            return network
        raise NetworkError("no free sandbox network index (254 sandboxes running?)")

    def _create_bridge(self) -> None:
        self._remove_leftovers()
        _ip("link", "add", "name", self.bridge, "type", "bridge")
        # A bridge without a set address takes the lowest of its ports': deleting one pod's veth could change the
        # gateway's MAC under the other pods, whose ARP caches keep the old one for up to ~30 s: their packets to
        # the host (reports, the API server) vanished meanwhile. A set address never changes.
        _ip("link", "set", self.bridge, "address", self.bridge_mac)
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        self._free = list(range(2, 255))

    def _remove_leftovers(self) -> None:
        if NETNS_DIR.exists():
            for entry in NETNS_DIR.iterdir():
                if self.owns(entry.name):
                    _quiet_ip("netns", "delete", entry.name)
        # A pod's veth outlives its namespace's name while any process still holds the namespace (a pod process of
        # a sandbox that was killed): the index is ours now (its lock), so every link of it is a leftover.
        for link in Path("/sys/class/net").iterdir():
            if self.owns(link.name) and link.name != self.bridge:
                _quiet_ip("link", "delete", link.name)
        _quiet_ip("link", "delete", self.bridge)

    def add_pod(self, key: str) -> str:
        """Create the namespace of pod ``key`` (its uid) and return the pod's IP."""
        if key in self._pods:
            return f"{SUBNET_PREFIX}.{self.index}.{self._pods[key]}"
        if not self._free:
            raise NetworkError(f"no free pod address in {self.cidr}")
        host = self._free.pop(0)
        ip = f"{SUBNET_PREFIX}.{self.index}.{host}"
        netns = self.netns_name(host)
        veth = self.veth_name(host)
        try:
            _quiet_ip("netns", "delete", netns)
            _ip("netns", "add", netns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "route", "add", "default", "via", self.gateway)
            _ip("link", "set", veth, "master", self.bridge, "up")
        except NetworkError:
            _quiet_ip("netns", "delete", netns)
            self._free.append(host)
            raise
        self._pods[key] = host
        return ip

    async def add_pod_async(self, key: str) -> str:
        return await asyncio.to_thread(self.add_pod, key)

    def remove_pod(self, key: str) -> None:
        """Delete the pod's namespace (its veth pair goes with it) and free its address."""
        host = self._pods.pop(key, None)
        if host is None:
            return
        _quiet_ip("netns", "delete", self.netns_name(host))
        self._free.append(host)

    def nsenter_prefix(self, key: str) -> list[str]:
        """The argv prefix that runs a command inside pod ``key``'s network namespace."""
        host = self._pods[key]
        return ["nsenter", f"--net={NETNS_DIR / self.netns_name(host)}", "--"]

    def close(self) -> None:
        """Remove every pod namespace and the bridge, and release the index."""
        for key in list(self._pods):
            self.remove_pod(key)
        self._remove_leftovers()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
