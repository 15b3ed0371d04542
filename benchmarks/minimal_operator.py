"""The baseline of ``operator_scale``: the smallest kopf operator that turns a TrainingJob into a pod.

One ``@kopf.on.create`` handler that posts one pod per resource with a shared aiohttp session (async, so kopf's
concurrency is not capped by a thread pool), and kopf's defaults everywhere else (progress annotations, posted
events). It reads the cluster from ``$KUBECONFIG``. Run it as ``kopf run --standalone -A
benchmarks/minimal_operator.py``.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import aiohttp
import kopf
import yaml

JOB_LABEL = "training.tensorone.ai/job"
_session: aiohttp.ClientSession | None = None


def _server_token_ca() -> tuple[str, str | None, str | None]:
    document: dict[str, Any] = yaml.safe_load(open(os.environ["KUBECONFIG"]).read())  # noqa: SIM115
    context = next(c["context"] for c in document["contexts"] if c["name"] == document["current-context"])
    cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
    user: dict[str, Any] = next(
        (u["user"] for u in document.get("users", []) if u["name"] == context.get("user")), {}
    )
    return str(cluster["server"]), user.get("token"), cluster.get("certificate-authority")


@kopf.on.startup()
async def open_session(**_: Any) -> None:
    global _session
    server, token, ca = _server_token_ca()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cafile=ca) if ca else None
    connector = aiohttp.TCPConnector(ssl=context) if context else None
    _session = aiohttp.ClientSession(base_url=server, headers=headers, connector=connector)


@kopf.on.cleanup()
async def close_session(**_: Any) -> None:
    if _session is not None:
        await _session.close()


def build_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-worker-0", "labels": {JOB_LABEL: name}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "trainer",
                    "image": "sandbox/fake-trainer",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }


@kopf.on.create("training.tensorone.ai", "v1", "trainingjobs")
async def create_pod(name: str, namespace: str | None, **_: Any) -> None:
    assert _session is not None
    pod = build_pod(name)
    kopf.adopt(pod)
    async with _session.post(f"/api/v1/namespaces/{namespace or 'default'}/pods", json=pod) as response:
        if response.status not in (201, 409):
            raise kopf.TemporaryError(f"pod not created: HTTP {response.status}", delay=1)
