"""Running the facade beside a cluster from tests, benchmarks and ``tensorone sandbox up --with-facade``.

``running_facade(kubeconfig)`` installs the CRDs when missing, serves the facade with uvicorn on a free loopback
port in a background thread, and stops it on exit; ``bootstrap_key`` registers an API key for an account.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from tensorone.api.crd_gen import dataset_crd, training_job_crd
from tensorone.facade.app import create_app
from tensorone.facade.auth import create_key
from tensorone.facade.kube import Connection, KubeClient, KubeError, Resource
from tensorone.facade.settings import Settings

CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)


async def install_crds(kube: KubeClient, timeout: float = 30) -> None:
    """Create the TrainingJob and Dataset CRDs unless they exist, and wait until the server serves them."""
    crds = (training_job_crd(), dataset_crd())
    for crd in crds:
        try:
            await kube.create(CRDS, None, crd)
        except KubeError as e:
            if e.status != 409:
                raise
    deadline = time.monotonic() + timeout
    for crd in crds:
        while not _established(await kube.get(CRDS, None, crd["metadata"]["name"])):
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {crd['metadata']['name']} not established after {timeout:.0f} s")
            await asyncio.sleep(0.1)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def bootstrap_key(kubeconfig: str | None, account: str, settings: Settings | None = None) -> str:
    """Register a new API key for ``account`` (synchronous; creates the namespaces) and return it."""
    settings = settings or Settings.from_env(kubeconfig=kubeconfig)

    async def run() -> str:
        kube = KubeClient(Connection.discover(kubeconfig))
        try:
            return await create_key(kube, settings, account)
        finally:
            await kube.aclose()

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningFacade:
    url: str
    settings: Settings

    def new_key(self, account: str) -> str:
        assert self.settings.kubeconfig is not None
        return bootstrap_key(self.settings.kubeconfig, account, self.settings)


@contextmanager
def running_facade(kubeconfig: str, **settings: Any) -> Iterator[RunningFacade]:
    """Serve the facade for the cluster of ``kubeconfig`` on 127.0.0.1 until the block ends."""
    config = Settings.from_env(kubeconfig=kubeconfig, **settings)

    async def prepare() -> None:
        kube = KubeClient(Connection.discover(kubeconfig))
        try:
            await install_crds(kube)
        finally:
            await kube.aclose()

    asyncio.run(prepare())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="tensorone-facade", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the facade did not start")
        time.sleep(0.02)
    try:
        httpx.get(f"{url}/healthz").raise_for_status()
        yield RunningFacade(url, config)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
