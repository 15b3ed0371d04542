"""Starting the product's own components (operator, REST facade) against a running sandbox.

They run as separate processes, exactly as they would beside a real cluster, configured only through the
sandbox's kubeconfig; their output goes to ``DIR/operator.log`` and ``DIR/facade.log``. The product CRDs are
registered first (rendered from the pydantic models, the single source of truth). With the facade, an API key for
the ``default`` account is created and written to ``DIR/api-key`` and the base URL to ``DIR/api-url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from tensorone.sandbox.apiserver import errors
from tensorone.sandbox.runtime import Sandbox

DEFAULT_ACCOUNT = "default"
# What the Helm values set on a cluster, for this machine: a dataset volume (``DIR/volumes/<ns>/datasets``) and
# timings short enough for interactive use; everything else keeps the operator's defaults.
SANDBOX_OPERATOR_SETTINGS = {
    "datasetVolumeClaim": "datasets",
    "terminationGracePeriodSeconds": 60,
    "reportIntervalSeconds": 1.0,
    "resyncSeconds": 5.0,
    "usageFlushSeconds": 5.0,
}


class ComponentError(RuntimeError):
    """A component did not come up."""


def install_product_crds(sandbox: Sandbox) -> None:
    """Create the TrainingJob and Dataset CRDs (idempotent)."""
    from tensorone.api.crd_gen import render_crds

    crds = sandbox.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    for text in render_crds().values():
        with contextlib.suppress(errors.ApiError):
            sandbox.store.create(crds, None, yaml.safe_load(text))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Components:
    """The operator and facade processes of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.processes: list[subprocess.Popen[bytes]] = []
        self.facade_url: str | None = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.sandbox.dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        env = {**os.environ, "KUBECONFIG": str(self.sandbox.kubeconfig_path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "tensorone", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    async def start_operator(self, settings: Path | None = None) -> None:
        """Run ``tensorone operator`` against the sandbox, with ``settings`` or the sandbox's own."""
        if settings is None:
            settings = self.sandbox.dir / "operator.yaml"
            settings.write_text(yaml.safe_dump(SANDBOX_OPERATOR_SETTINGS, sort_keys=False))
        process = self._spawn(
            "operator",
            ["operator", "--kubeconfig", str(self.sandbox.kubeconfig_path), "--config", str(settings)],
        )
        await asyncio.sleep(0.5)
        if process.poll() is not None:
            raise ComponentError(
                f"the operator exited with {process.returncode}; see {self.sandbox.dir}/operator.log"
            )

    async def start_facade(self, timeout: float = 30) -> None:
        """Run ``tensorone serve`` against the sandbox, wait for it, create the default account's key."""
        port = _free_port()
        process = self._spawn(
            "facade", ["serve", "--kubeconfig", str(self.sandbox.kubeconfig_path), "--port", str(port)]
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(_healthy, url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ComponentError(f"the facade did not come up; see {self.sandbox.dir}/facade.log")
            await asyncio.sleep(0.2)
        from tensorone.facade.testing import bootstrap_key

        key = await asyncio.to_thread(bootstrap_key, str(self.sandbox.kubeconfig_path), DEFAULT_ACCOUNT)
        (self.sandbox.dir / "api-url").write_text(url + "\n")
        (self.sandbox.dir / "api-key").write_text(key + "\n")
        self.facade_url = url

    async def stop(self, grace: float = 10) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after the grace period."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
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
