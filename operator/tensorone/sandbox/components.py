"""Starting the product's own components (operator, REST facade) against a running sandbox, as the chart would.

They run as separate processes, exactly as they would beside a real cluster, with the identities the Helm chart
gives them: the chart is rendered with the real Helm engine, its ServiceAccounts, (Cluster)Roles, bindings and
PriorityClasses are created, and each component gets a kubeconfig with its own ServiceAccount's token (never the
admin's), so a permission the chart forgot is a 403 here as on a cluster. Their output goes to
``DIR/operator.log`` and ``DIR/facade.log``. The product CRDs are registered first (rendered from the pydantic
models, the single source of truth) and awaited until Established. With the facade, an API key for the
``default`` account is created and written to ``DIR/api-key`` (mode 0600) and the base URL to ``DIR/api-url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tensorone.api.accounts import SANDBOX_ACCOUNT
from tensorone.api.reporting import report_url
from tensorone.facade.kube import KubeClient, KubeError, Resource
from tensorone.sandbox.controlplane import DIE_WITH_PARENT, free_port, write_kubeconfig
from tensorone.sandbox.pki import create_serving_tls
from tensorone.sandbox.runtime import DATASET_CLAIM, REPORT_TLS_FOLDER, Sandbox

DEFAULT_ACCOUNT = SANDBOX_ACCOUNT
RELEASE = "tensorone"
SYSTEM_NAMESPACE = "tensorone-system"
CHART_DIR = Path(__file__).resolve().parents[3] / "charts" / "tensorone-training"
# What the Helm values set on a cluster, for this machine: a dataset volume (``DIR/volumes/<ns>/datasets``) and
# timings short enough for interactive use; everything else keeps the operator's defaults.
SANDBOX_OPERATOR_SETTINGS = {
    "datasetVolumeClaim": DATASET_CLAIM,
    "terminationGracePeriodSeconds": 60,
    "reportIntervalSeconds": 1.0,
    "resyncSeconds": 5.0,
    "usageFlushSeconds": 5.0,
}


def report_endpoint_settings(sandbox_url: str, port: int, tls_dir: Path) -> dict[str, Any]:
    """The operator settings of its report endpoint on this machine, as the chart sets them on a cluster: HTTPS on
    ``port`` with a serving certificate (made in ``tls_dir``) for the address pods reach the operator at, the pod
    network's gateway (the API server's address), and the CA the workers' relays verify it against."""
    gateway = str(urlsplit(sandbox_url).hostname)
    tls = create_serving_tls(tls_dir, common_name="tensorone-report-endpoint", ips=[gateway], dns_names=[])
    return {
        "reportPort": port,
        "reportUrl": report_url(gateway, port, tls=True),
        "reportTlsCertFile": str(tls.cert),
        "reportTlsKeyFile": str(tls.key),
        "reportCaFile": str(tls.ca_cert),
    }


CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
SECRETS = Resource("", "v1", "secrets")
# The kinds of the chart that give the components their identity and rights.
IDENTITY_KINDS = {
    "ServiceAccount": SERVICE_ACCOUNTS,
    "ClusterRole": Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False),
    "ClusterRoleBinding": Resource(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False
    ),
    "Role": Resource("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": Resource("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "PriorityClass": Resource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False),
}


class ComponentError(RuntimeError):
    """A component did not come up."""


async def install_product_crds(kube: KubeClient, timeout: float = 30) -> None:
    """Create the TrainingJob and Dataset CRDs (idempotent) and wait until the server serves them."""
    from tensorone.facade.testing import install_crds

    try:
        await install_crds(kube, timeout)
    except RuntimeError as exc:
        raise ComponentError(str(exc)) from exc


def chart_identities(release: str = RELEASE, namespace: str = SYSTEM_NAMESPACE) -> list[dict[str, Any]]:
    """The chart's ServiceAccounts, RBAC and PriorityClasses, rendered by the real Helm engine."""
    import helm_python as helm

    rendered: dict[str, str] = helm.Chart.load(CHART_DIR).render(
        {}, name=release, namespace=namespace, is_install=True
    )
    documents = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d and d.get("kind") in IDENTITY_KINDS]
    return documents


class Components:
    """The operator and facade processes of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.facade_url: str | None = None
        self.restarts: dict[str, int] = {}
        self._commands: dict[str, tuple[list[str], Path]] = {}
        self._identities: dict[str, Path] = {}

    @property
    def admin(self) -> KubeClient:
        assert self.sandbox.admin is not None
        return self.sandbox.admin

    async def install_identities(self) -> None:
        """The system namespace and the chart's ServiceAccounts, RBAC and PriorityClasses."""
        with contextlib.suppress(KubeError):
            await self.admin.create(NAMESPACES, None, {"metadata": {"name": SYSTEM_NAMESPACE}})
        for document in await asyncio.to_thread(chart_identities):
            resource = IDENTITY_KINDS[document["kind"]]
            namespace = SYSTEM_NAMESPACE if resource.namespaced else None
            if namespace is not None:
                document["metadata"]["namespace"] = namespace
            try:
                await self.admin.create(resource, namespace, document)
            except KubeError as exc:
                if exc.status != 409:
                    raise

    async def _kubeconfig_of(self, component: str, timeout: float = 30) -> Path:
        """A kubeconfig with the token of the chart's ServiceAccount for ``component`` (made by the token
        controller, as on a 1.20 cluster)."""
        if component in self._identities:
            return self._identities[component]
        account = f"{RELEASE}-tensorone-training-{component}"
        deadline = time.monotonic() + timeout
        while True:
            sa = await self.admin.get(SERVICE_ACCOUNTS, SYSTEM_NAMESPACE, account)
            names = [s["name"] for s in sa.get("secrets") or []]
            if names:
                secret = await self.admin.get(SECRETS, SYSTEM_NAMESPACE, names[0])
                token = (secret.get("data") or {}).get("token")
                if token:
                    break
            if time.monotonic() > deadline:
                raise ComponentError(f"no token for ServiceAccount {SYSTEM_NAMESPACE}/{account}")
            await asyncio.sleep(0.1)
        import base64

        folder = self.sandbox.dir / "component-tokens"
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{component}.kubeconfig"
        write_kubeconfig(
            path, self.sandbox.url, self.sandbox.ca_file, base64.b64decode(token).decode(),
            user=f"system:serviceaccount:{SYSTEM_NAMESPACE}:{account}",
        )  # fmt: skip
        self._identities[component] = path
        return path

    def _spawn(self, name: str, args: list[str], kubeconfig: Path) -> subprocess.Popen[bytes]:
        log = open(self.sandbox.dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        process = subprocess.Popen(
            [*DIE_WITH_PARENT, sys.executable, "-m", "tensorone", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        self._commands[name] = (args, kubeconfig)
        return process

    async def supervise(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Until ``stop``: restart the operator or facade when its process dies (as a Deployment's ReplicaSet
        would), saying so on stderr and in its log; give up on the control plane if one of its processes dies."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()
            if stop.is_set():
                return
            for name, process in list(self.processes.items()):
                if process.poll() is None:
                    continue
                args, kubeconfig = self._commands[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                message = f"sandbox: {name} exited with {process.returncode}; restarting it (restart {self.restarts[name]})"
                print(message, file=sys.stderr, flush=True)
                with open(self.sandbox.dir / f"{name}.log", "a") as log:
                    log.write(message + "\n")
                self._spawn(name, args, kubeconfig)
            control = self.sandbox.control
            failed = control.check() if control is not None else None
            if failed is not None:
                print(
                    f"sandbox: {failed} exited; see {self.sandbox.dir}/logs/{failed}.log",
                    file=sys.stderr,
                    flush=True,
                )
                return

    async def start_operator(self, settings: Path | None = None) -> None:
        """Run ``tensorone operator`` as the chart's operator ServiceAccount."""
        if settings is None:
            settings = self.sandbox.dir / "operator.yaml"
            # Workers report to the operator (a process on this machine) over HTTPS.
            report = report_endpoint_settings(
                self.sandbox.url, free_port(), self.sandbox.dir / REPORT_TLS_FOLDER
            )
            values = {**SANDBOX_OPERATOR_SETTINGS, **report}
            settings.write_text(yaml.safe_dump(values, sort_keys=False))
        kubeconfig = await self._kubeconfig_of("operator")
        process = self._spawn(
            "operator", ["operator", "--kubeconfig", str(kubeconfig), "--config", str(settings)], kubeconfig
        )
        await asyncio.sleep(0.5)
        if process.poll() is not None:
            raise ComponentError(
                f"the operator exited with {process.returncode}; see {self.sandbox.dir}/operator.log"
            )

    async def start_facade(self, timeout: float = 30) -> None:
        """Run ``tensorone serve`` as the chart's facade ServiceAccount; create the default account's key."""
        port = free_port()
        kubeconfig = await self._kubeconfig_of("facade")
        process = self._spawn(
            "facade", ["serve", "--kubeconfig", str(kubeconfig), "--port", str(port)], kubeconfig
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(_healthy, url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ComponentError(f"the facade did not come up; see {self.sandbox.dir}/facade.log")
            await asyncio.sleep(0.2)
        from tensorone.facade.testing import bootstrap_key

        # Keys are made by the platform team (the admin), as `tensorone keys create` does on a cluster.
        key = await asyncio.to_thread(bootstrap_key, str(self.sandbox.kubeconfig_path), DEFAULT_ACCOUNT)
        (self.sandbox.dir / "api-url").write_text(url + "\n")
        key_file = self.sandbox.dir / "api-key"
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        self.facade_url = url

    async def stop(self, grace: float = 10) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after the grace period."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for name in ("api-url", "api-key"):
            (self.sandbox.dir / name).unlink(missing_ok=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def facade_url_of(directory: Path) -> str | None:
    """The facade URL a running sandbox wrote, if any."""
    path = directory / "api-url"
    return path.read_text().strip() if path.exists() else None
