"""Running a sandbox from tests (and other synchronous code): ``with running_sandbox(tmp_path) as sandbox: ...``.

The sandbox runs on its own event loop in a background thread, so synchronous clients (kubectl, the kubernetes
client) and asynchronous ones (kopf, aiohttp, httpx) in the test's own loop can all talk to it over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tensorone.sandbox.config import NodeSpec
from tensorone.sandbox.runtime import Sandbox

T = TypeVar("T")


class RunningSandbox:
    """Handle on a sandbox running in a background thread."""

    def __init__(self, sandbox: Sandbox, loop: asyncio.AbstractEventLoop) -> None:
        self.sandbox = sandbox
        self.loop = loop

    @property
    def url(self) -> str:
        """API server base URL, e.g. ``https://10.234.1.1:41234``."""
        return self.sandbox.url

    @property
    def kubeconfig_path(self) -> Path:
        """Kubeconfig for kubectl (``--kubeconfig``/``KUBECONFIG``), kopf and the kubernetes client."""
        return self.sandbox.kubeconfig_path

    @property
    def dir(self) -> Path:
        """The sandbox directory (pods' folders, volumes, logs)."""
        return self.sandbox.dir

    @property
    def ca_file(self) -> Path:
        """The cluster CA (the API server's and kubelets' certificates are signed by it)."""
        return self.sandbox.ca_file

    @property
    def admin_token(self) -> str:
        """The cluster-admin bearer token (the one in ``kubeconfig_path``)."""
        assert self.sandbox.control is not None
        return self.sandbox.control.admin_token

    def http(self, timeout: float = 10) -> httpx.Client:
        """A synchronous client for raw API calls as the cluster admin (TLS checked against the sandbox's CA)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.Client(base_url=self.url, verify=context, headers=headers, timeout=timeout)

    def audit_events(self) -> list[dict[str, Any]]:
        """Every request the API server has logged so far (start the sandbox with ``audit=True``)."""
        assert self.sandbox.control is not None
        path = self.sandbox.control.audit_log
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @contextmanager
    def api_server_stalled(self) -> Iterator[None]:
        """The API server frozen (SIGSTOP) inside the block: what a server stalled under load looks like to its
        clients, connections accepted and no answer."""
        assert self.sandbox.control is not None
        process = self.sandbox.control.processes["kube-apiserver"]
        os.kill(process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(process.pid, signal.SIGCONT)

    def install_product_crds(self) -> None:
        """Register the TrainingJob and Dataset CRDs and wait until they are served."""
        from tensorone.sandbox.components import install_product_crds

        async def install(sandbox: Sandbox) -> None:
            assert sandbox.admin is not None
            await install_product_crds(sandbox.admin)

        self.run(install)

    def run(self, coro_fn: Callable[[Sandbox], Awaitable[T]]) -> T:
        """Await ``coro_fn(sandbox)`` on the sandbox's loop."""

        async def wrapper() -> T:
            return await coro_fn(self.sandbox)

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout=60)


@contextmanager
def running_sandbox(
    directory: Path | str, *, gpus: str | list[NodeSpec] | None = None, port: int = 0, **options: Any
) -> Iterator[RunningSandbox]:
    """Start a sandbox (control plane, nodes, kubelet) in a thread; stop it and its processes on exit.

    Args:
        directory: the sandbox directory (``tmp_path`` in tests); ``kubeconfig`` is written there.
        gpus: nodes as ``"a100=8,h100=2"``, a YAML path, or NodeSpec list (default: one a100 node with 8 GPUs).
        port: API port (0 picks a free one).
        options: passed to :class:`~tensorone.sandbox.runtime.Sandbox` (``run_pods``, ``priority_classes``,
            ``dataset_claim``, ``audit``).
    """
    loop = asyncio.new_event_loop()
    started: Future[Sandbox] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        sandbox = Sandbox(directory, gpus=gpus, port=port, **options)
        try:
            await sandbox.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(sandbox)
        try:
            await stop.wait()
        finally:
            await sandbox.stop()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="tensorone-sandbox", daemon=True
    )
    thread.start()
    try:
        sandbox = started.result(timeout=120)
        yield RunningSandbox(sandbox, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()
