"""Name resolution of pod hostnames and headless-service names for processes the node agent starts.

All pods run on this machine, so every ``<hostname>.<subdomain>[.<ns>[.svc[.cluster.local]]]`` and service name
resolves to 127.0.0.1. Two mechanisms, both maintained by the agent:

* a hosts file in the sandbox directory, read by a ``sitecustomize`` hook placed first on ``PYTHONPATH`` of pod
  processes; it answers ``socket.getaddrinfo``/``gethostbyname`` for Python code;
* ``/etc/hosts``, only when it is writable: a block tagged with the sandbox's id, rewritten under a file lock and
  removed on shutdown. This also covers resolution from C/C++ (torch's c10d TCPStore used by torchrun).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

HOOK_SOURCE = '''"""Installed by the TensorOne sandbox: resolve pod and service names from $TENSORONE_SANDBOX_HOSTS."""
import os
import socket

_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname


def _lookup(host):
    path = os.environ.get("TENSORONE_SANDBOX_HOSTS")
    if not path or not isinstance(host, str):
        return None
    name = host.lower().rstrip(".")
    if name.endswith((".svc", ".svc.cluster.local")):
        return "127.0.0.1"
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and name in (p.lower() for p in parts[1:]):
                    return parts[0]
    except OSError:
        return None
    return None


def getaddrinfo(host, *args, **kwargs):
    address = _lookup(host)
    return _real_getaddrinfo(address or host, *args, **kwargs)


def gethostbyname(host):
    return _lookup(host) or _real_gethostbyname(host)


socket.getaddrinfo = getaddrinfo
socket.gethostbyname = gethostbyname
'''


def pod_names(hostname: str, subdomain: str | None, namespace: str) -> list[str]:
    """Every DNS name under which a pod is reachable in a cluster."""
    names = [hostname]
    if subdomain:
        base = f"{hostname}.{subdomain}"
        names += [
            base,
            f"{base}.{namespace}",
            f"{base}.{namespace}.svc",
            f"{base}.{namespace}.svc.cluster.local",
        ]
    return names


def service_names(name: str, namespace: str) -> list[str]:
    """Every DNS name of a service."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


class HostsResolver:
    """Keeps the sandbox hosts file (and, when writable, a tagged /etc/hosts block) up to date."""

    def __init__(self, directory: Path, tag: str, etc_hosts: Path | None = Path("/etc/hosts")) -> None:
        self.path = directory / "hosts"
        self.hook_dir = directory / "hooks"
        self.tag = tag
        self.etc_hosts = etc_hosts if etc_hosts is not None and os.access(etc_hosts, os.W_OK) else None
        self._current: list[str] | None = None

    def install_hook(self) -> None:
        """Write the ``sitecustomize`` hook pod processes get on their PYTHONPATH."""
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(HOOK_SOURCE)
        if not self.path.exists():
            self.path.write_text("")

    def update(self, names: Iterable[str]) -> None:
        """Make exactly these names resolve to 127.0.0.1."""
        unique = sorted(set(names))
        if unique == self._current:
            return
        self._current = unique
        lines = "".join(f"127.0.0.1 {name}\n" for name in unique)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(lines)
        tmp.replace(self.path)
        if self.etc_hosts is not None:
            with contextlib.suppress(OSError):
                self._rewrite_etc_hosts(unique)

    def remove(self) -> None:
        """Drop the /etc/hosts block of this sandbox."""
        if self.etc_hosts is not None:
            with contextlib.suppress(OSError):
                self._rewrite_etc_hosts([])

    def _rewrite_etc_hosts(self, names: list[str]) -> None:
        assert self.etc_hosts is not None
        marker = f"# tensorone-sandbox {self.tag}"
        with open(self.etc_hosts, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                kept = [line for line in handle.read().splitlines() if not line.endswith(marker)]
                kept += [f"127.0.0.1 {name} {marker}" for name in names]
                handle.seek(0)
                handle.write("\n".join(kept) + "\n")
                handle.truncate()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
