"""Wiring of one running sandbox: API server, fake nodes, scheduler, node agent and the files clients need.

Everything runs on one asyncio event loop; the scheduler, agent and garbage collector use the store directly
(they are the sandbox's own control plane), while every client — kopf, the kubernetes client, kubectl, the
trainer's reporter — goes over HTTP with the kubeconfig written to ``DIR/kubeconfig``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from tensorone.sandbox.agent import NodeAgent
from tensorone.sandbox.apiserver.registry import Registry
from tensorone.sandbox.apiserver.server import SandboxApiServer, serve
from tensorone.sandbox.apiserver.store import Store
from tensorone.sandbox.config import PRODUCT_PRIORITY_CLASSES, NodeSpec, node_specs
from tensorone.sandbox.nodes import build_node
from tensorone.sandbox.scheduler import Scheduler
from tensorone.sandbox.tls import ensure_certificate, server_context

logger = logging.getLogger(__name__)

ADMIN_TOKEN = "tensorone-sandbox-admin"


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> None:
    """A kubeconfig usable by kubectl, the official kubernetes client and kopf."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tensorone-sandbox", "cluster": {"server": url}}],
        "users": [{"name": "tensorone-sandbox-admin", "user": {"token": ADMIN_TOKEN}}],
        "contexts": [
            {
                "name": "tensorone-sandbox",
                "context": {
                    "cluster": "tensorone-sandbox",
                    "user": "tensorone-sandbox-admin",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "tensorone-sandbox",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


class Sandbox:
    """One sandbox cluster rooted at a directory (state of pods, volumes, logs, kubeconfig)."""

    def __init__(
        self,
        directory: Path | str,
        *,
        port: int = 0,
        gpus: str | list[NodeSpec] | None = None,
        bookmark_interval: float = 5.0,
        history_size: int = 10000,
        run_pods: bool = True,
        priority_classes: bool = True,
    ) -> None:
        self.dir = Path(directory).resolve()
        self.port = port
        self.node_specs = node_specs(gpus)
        self.registry = Registry()
        self.store = Store(self.registry, history_size=history_size)
        self.server = SandboxApiServer(self.store, bookmark_interval=bookmark_interval)
        self.scheduler = Scheduler(self.store)
        self.agent = NodeAgent(self.store, self.dir, run_pods=run_pods)
        self.server.log_provider = self.agent.read_logs
        self.install_priority_classes = priority_classes
        self._runner: Any = None
        self._tls_runner: Any = None
        self.tls_port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """Base URL of the API server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def kubeconfig_path(self) -> Path:
        """Where the kubeconfig for this sandbox is written."""
        return self.dir / "kubeconfig"

    async def start(self) -> None:
        """Serve the API, register the nodes, start the control loops and write the kubeconfig."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._runner, self.port = await serve(self.server, "127.0.0.1", self.port)
        self.agent.api_url = self.url
        certificate = await asyncio.to_thread(ensure_certificate)
        if certificate is not None:
            self._tls_runner, self.tls_port = await serve(
                self.server, "127.0.0.1", 0, ssl_context=server_context(*certificate)
            )
            self.agent.api_url = f"https://127.0.0.1:{self.tls_port}"
            self.agent.ca_file = certificate[0]
        nodes = self.registry.get("", "v1", "nodes")
        assert nodes is not None
        for spec in self.node_specs:
            manifest = build_node(spec)
            status = manifest.pop("status")
            self.store.create(nodes, None, manifest)
            self.store.update(
                nodes,
                None,
                spec.name,
                {**self.store.get(nodes, None, spec.name), "status": status},
                subresource="status",
            )
        if self.install_priority_classes:
            classes = self.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
            assert classes is not None
            for pc in PRODUCT_PRIORITY_CLASSES:
                body = {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": pc["name"]},
                    "value": pc["value"],
                    "preemptionPolicy": pc["preemptionPolicy"],
                    "globalDefault": False,
                }
                self.store.create(classes, None, body)
        self._tasks = [
            asyncio.create_task(self.store.run_garbage_collector(), name="sandbox-gc"),
            asyncio.create_task(self.scheduler.run(), name="sandbox-scheduler"),
            asyncio.create_task(self.agent.run(), name="sandbox-agent"),
        ]
        write_kubeconfig(self.kubeconfig_path, self.url)
        (self.dir / "sandbox.json").write_text(json.dumps({"pid": os.getpid(), "url": self.url}))

    async def stop(self) -> None:
        """Kill every pod process, stop the loops and the server."""
        await self.agent.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runner in (self._tls_runner, self._runner):
            if runner is not None:
                await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "sandbox.json").unlink()
