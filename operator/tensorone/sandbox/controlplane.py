"""The real Kubernetes control plane of a sandbox: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

The binaries are built once from Debian's ``kubernetes`` source package by ``scripts/kubernetes.sh`` (``make
kubernetes``) and cached outside the checkout. Each sandbox runs its own processes: etcd on loopback with its
data in ``/dev/shm`` (a sandbox's state is throwaway, and fsync on a shared disk would dominate start-up), the API
server on the sandbox bridge's gateway address with TLS, static tokens for the cluster's own components and the
admin, ServiceAccount token signing, RBAC (and the Node authorizer) and the default admission plugins; the
controller manager (garbage collection, namespaces, ServiceAccount tokens, PV binding, ...) and the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tensorone.sandbox.pki import Pki, create_pki

# The build script is the one place that names the version and its cache folder (``--where`` prints it).
BUILD_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "kubernetes.sh"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "tensorone-sandbox-admin"
NODE_AGENT_USER = "tensorone-sandbox-node-agent"


# A sandbox's processes must not outlive it, even when it is SIGKILLed: each is started with the kernel's
# parent-death signal set (util-linux setpriv), so it is killed when the thread that started it ends.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]


class ControlPlaneError(RuntimeError):
    """A control-plane binary is missing or a component did not come up."""


@functools.cache
def binary_dir() -> Path:
    """Where ``scripts/kubernetes.sh`` caches the binaries (``TENSORONE_KUBE_BIN`` overrides)."""
    override = os.environ.get("TENSORONE_KUBE_BIN")
    if override:
        return Path(override)
    if not BUILD_SCRIPT.exists():
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} is missing: set TENSORONE_KUBE_BIN to the control plane's binaries"
        )
    where = subprocess.run(["bash", str(BUILD_SCRIPT), "--where"], capture_output=True, text=True, check=True)
    return Path(where.stdout.strip())


def find_binaries() -> dict[str, Path]:
    """The four binaries, or a clear error saying how to build them."""
    directory = binary_dir()
    found: dict[str, Path] = {}
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        path = directory / name
        if not os.access(path, os.X_OK):
            raise ControlPlaneError(
                f"{path} is missing: build the control plane once with `make kubernetes` "
                "(Debian, root; about 12 minutes the first time, cached afterwards)"
            )
        found[name] = path
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def write_kubeconfig(
    path: Path, server: str, ca_file: Path, token: str, *, user: str, namespace: str = "default"
) -> None:
    """A kubeconfig usable by kubectl, the official kubernetes client and kopf; readable by its owner only."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "tensorone-sandbox",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "tensorone-sandbox",
                "context": {"cluster": "tensorone-sandbox", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "tensorone-sandbox",
        "preferences": {},
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


@dataclass
class ControlPlane:
    """The control-plane processes of one sandbox."""

    directory: Path
    address: str
    extra_sans: list[str] = field(default_factory=list)
    port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    pki: Pki | None = None
    etcd_dir: Path | None = None
    audit: bool = False
    audit_policy: str | None = None  # an audit.k8s.io/v1 Policy; default: every request at Metadata level

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines, one per request at Metadata level) when ``audit`` is on."""
        return self.directory / "logs" / "audit.log"

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def admin_token(self) -> str:
        return self.tokens[ADMIN_USER]

    @property
    def node_agent_token(self) -> str:
        return self.tokens[NODE_AGENT_USER]

    @property
    def ca_file(self) -> Path:
        assert self.pki is not None
        return self.pki.ca_cert

    def pki_or_raise(self) -> Pki:
        if self.pki is None:
            raise ControlPlaneError("the control plane has not started")
        return self.pki

    def _log(self, name: str) -> Any:
        logs = self.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return open(logs / f"{name}.log", "ab")

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self._log(name)
        process = subprocess.Popen(
            [*DIE_WITH_PARENT, *argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes[name] = process
        return process

    def _write_tokens(self, directory: Path) -> Path:
        # user -> groups. The controller manager runs every controller with its own credentials, so it is
        # given system:masters (kubeadm gives each controller its own ServiceAccount instead).
        identities = {
            ADMIN_USER: "system:masters",
            "system:kube-controller-manager": "system:masters",
            "system:kube-scheduler": "",
            NODE_AGENT_USER: "",
        }
        lines = []
        for user, groups in identities.items():
            token = secrets.token_urlsafe(32)
            self.tokens[user] = token
            lines.append(f'{token},{user},{user},"{groups}"' if groups else f"{token},{user},{user}")
        path = directory / "tokens.csv"
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start(self, timeout: float = 60, *, with_controllers: bool = True) -> None:
        """Start etcd, the API server, the controller manager and the scheduler; return once the API serves.
        ``with_controllers=False`` stops after the API server (the start-up benchmark's baseline)."""
        binaries = find_binaries()
        secret_dir = self.directory / "pki"
        self.pki = await asyncio.to_thread(
            create_pki,
            secret_dir,
            ips=[self.address, "127.0.0.1", "10.96.0.1", *self.extra_sans],
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"],
        )  # fmt: skip
        tokens = self._write_tokens(secret_dir)
        self.etcd_dir = Path("/dev/shm") / f"tensorone-etcd-{secrets.token_hex(6)}"
        if not Path("/dev/shm").is_dir():
            self.etcd_dir = self.directory / "etcd"
        etcd_port, etcd_peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [
                str(binaries["etcd"]), "--name", "sandbox", "--data-dir", str(self.etcd_dir),
                "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster", f"sandbox=http://127.0.0.1:{etcd_peer}",
                "--quota-backend-bytes", str(2 * 1024**3), "--logger", "zap", "--log-level", "warn",
            ],
        )  # fmt: skip
        self.port = self.port or free_port(self.address)
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={self.address}", f"--advertise-address={self.address}",
                f"--secure-port={self.port}", "--insecure-port=0",
                f"--tls-cert-file={pki.apiserver_cert}", f"--tls-private-key-file={pki.apiserver_key}",
                f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={tokens}",
                f"--service-account-key-file={pki.service_account_public_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--kubelet-client-certificate={pki.kubelet_client_cert}",
                f"--kubelet-client-key={pki.kubelet_client_key}",
                f"--kubelet-certificate-authority={pki.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true", "--profiling=false", "--event-ttl=2h",
                "--endpoint-reconciler-type=none", "--v=0",
                *self._audit_flags(secret_dir),
            ],
        )  # fmt: skip
        await self._wait_ready(timeout)
        if not with_controllers:
            return
        for name in ("kube-controller-manager", "kube-scheduler"):
            user = f"system:{name}"
            config = secret_dir / f"{name}.kubeconfig"
            write_kubeconfig(config, self.url, pki.ca_cert, self.tokens[user], user=user)
            common = [
                f"--kubeconfig={config}",
                "--leader-elect=false",
                "--port=0",
                "--secure-port=0",
                "--v=0",
            ]
            if name == "kube-controller-manager":
                common += [
                    f"--service-account-private-key-file={pki.service_account_key}",
                    f"--root-ca-file={pki.ca_cert}",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service,-route",
                    "--node-monitor-grace-period=40s",
                    "--node-monitor-period=1s",
                    "--concurrent-gc-syncs=5",
                ]
            self._spawn(name, [str(binaries[name]), *common])

    def _audit_flags(self, directory: Path) -> list[str]:
        if not (self.audit or self.audit_policy):
            return []
        policy = directory / "audit-policy.yaml"
        policy.write_text(
            self.audit_policy
            or "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n"
        )
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
        ]

    async def _wait_ready(self, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        url = f"{self.url}/readyz"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.admin_token}"})

        def ready() -> bool:
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        while not await asyncio.to_thread(ready):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise ControlPlaneError(
                        f"{name} exited with {process.returncode}; see {self.directory}/logs/{name}.log"
                    )
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"kube-apiserver not ready after {timeout:.0f} s; see {self.directory}/logs"
                )
            await asyncio.sleep(0.2)

    def check(self) -> str | None:
        """The first component that has exited, if any (for supervision)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self, grace: float = 5) -> None:
        """SIGTERM every process (scheduler and controllers first, etcd last), SIGKILL what remains."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self.etcd_dir is not None:
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
