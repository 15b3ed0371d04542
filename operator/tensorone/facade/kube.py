"""A small asynchronous Kubernetes API client over httpx: the facade's only way to its store.

The official client is synchronous and heavy on every call; the facade needs a handful of verbs on a few
resources, JSON in and out, streaming for logs and watches, on one connection pool.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tensorone.api.spec import API_GROUP, API_VERSION

_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
JsonObj = dict[str, Any]


# What a request raises when it never got an answer (connection refused or reset, timeout under load): transient
# by nature, unlike most KubeErrors. A loop that must outlive a slow API server catches these too.
UNANSWERED = (OSError, httpx.TransportError)


class KubeError(Exception):
    """A non-success answer of the API server, with its HTTP status and Status reason."""

    def __init__(self, status: int, reason: str, message: str):
        self.status = status
        self.reason = reason
        super().__init__(f"{status} {reason}: {message}")


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate to it."""

    server: str
    token: str | None = None
    verify: ssl.SSLContext | bool = True

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str]) -> Connection:
        """Read the current context of a kubeconfig (token, client certificates, CA)."""
        config = yaml.safe_load(Path(path).read_text())
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user: dict[str, Any] = (
            next((u["user"] for u in config.get("users", []) if u["name"] == context.get("user")), {}) or {}
        )
        server = str(cluster["server"]).rstrip("/")
        verify: ssl.SSLContext | bool = True
        if server.startswith("https://"):
            ctx = ssl.create_default_context()
            if cluster.get("insecure-skip-tls-verify"):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif "certificate-authority-data" in cluster:
                ctx.load_verify_locations(
                    cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
                )
            elif "certificate-authority" in cluster:
                ctx.load_verify_locations(cafile=cluster["certificate-authority"])
            cert, key = _material(user, "client-certificate"), _material(user, "client-key")
            if cert and key:
                ctx.load_cert_chain(cert, key)
            verify = ctx
        token = user.get("token")
        if token is None and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text().strip()
        return cls(server=server, token=token, verify=verify)

    @classmethod
    def in_cluster(cls) -> Connection:
        """The pod's service account (``KUBERNETES_SERVICE_HOST``)."""
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        ctx = ssl.create_default_context(cafile=str(_SA_DIR / "ca.crt"))
        return cls(server=f"https://{host}:{port}", token=(_SA_DIR / "token").read_text().strip(), verify=ctx)

    @classmethod
    def discover(cls, kubeconfig: str | None) -> Connection:
        """An explicit kubeconfig, else in-cluster, else ``$KUBECONFIG`` / ``~/.kube/config``."""
        if kubeconfig:
            return cls.from_kubeconfig(kubeconfig)
        if "KUBERNETES_SERVICE_HOST" in os.environ:
            return cls.in_cluster()
        return cls.from_kubeconfig(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))


def _material(user: Mapping[str, Any], key: str) -> str | None:
    """A file path for inline ``<key>-data`` (written to a private temp file) or the ``<key>`` path."""
    if f"{key}-data" in user:
        handle = tempfile.NamedTemporaryFile("wb", delete=False, prefix="tensorone-", suffix=".pem")  # noqa: SIM115
        with handle:
            handle.write(base64.b64decode(user[f"{key}-data"]))
        return handle.name
    value = user.get(key)
    return str(value) if value else None


@dataclass(frozen=True)
class Resource:
    """A resource type's URL parts."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        if sub is not None:
            base += f"/{sub}"
        return base


TRAINING_JOBS = Resource(API_GROUP, API_VERSION, "trainingjobs")
DATASETS = Resource(API_GROUP, API_VERSION, "datasets")
SECRETS = Resource("", "v1", "secrets")
PODS = Resource("", "v1", "pods")
EVENTS = Resource("", "v1", "events")
NODES = Resource("", "v1", "nodes", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)


class KubeClient:
    """JSON verbs against one API server; one httpx pool per event loop (tests run several loops)."""

    def __init__(self, connection: Connection, timeout: float = 15.0):
        self.connection = connection
        self.timeout = timeout
        self._clients: dict[tuple[int, bool], httpx.AsyncClient] = {}

    def _client(self, streaming: bool = False) -> httpx.AsyncClient:
        """The loop's pool for requests, or (``streaming``) its pool for watches and log follows: those hold
        a connection each for as long as they run and must never use up the connections requests need."""
        loop_id = id(asyncio.get_running_loop())
        key = (loop_id, streaming)
        client = self._clients.get(key)
        if client is None:
            headers = {"Accept": "application/json"}
            if self.connection.token:
                headers["Authorization"] = f"Bearer {self.connection.token}"
            client = httpx.AsyncClient(
                base_url=self.connection.server,
                headers=headers,
                verify=self.connection.verify,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=None if streaming else 64, max_keepalive_connections=32),
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        loop_id = id(asyncio.get_running_loop())
        for streaming in (False, True):
            client = self._clients.pop((loop_id, streaming), None)
            if client is not None:
                await client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JsonObj:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else None
        response = await self._client().request(method, path, params=params, content=content, headers=headers)
        if response.status_code >= 400:
            raise _error(response.status_code, response.content)
        result: JsonObj = response.json() if response.content else {}
        return result

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonObj:
        return await self.request("GET", resource.path(namespace, name))

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> JsonObj:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self.request("GET", resource.path(namespace), params=params)

    async def create(self, resource: Resource, namespace: str | None, body: JsonObj) -> JsonObj:
        return await self.request("POST", resource.path(namespace), body=body)

    async def merge_patch(
        self, resource: Resource, namespace: str | None, name: str, patch: JsonObj
    ) -> JsonObj:
        return await self.request(
            "PATCH", resource.path(namespace, name), body=patch, content_type="application/merge-patch+json"
        )

    async def delete(
        self, resource: Resource, namespace: str | None, name: str, *, propagation: str = "Background"
    ) -> JsonObj:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return await self.request("DELETE", resource.path(namespace, name), body=body)

    async def stream_lines(self, path: str, params: Mapping[str, str]) -> AsyncIterator[bytes]:
        """A streamed GET (watch, log follow), chunk by chunk as the server sends them."""
        async with self._client(streaming=True).stream("GET", path, params=params, timeout=None) as response:
            if response.status_code >= 400:
                raise _error(response.status_code, await response.aread())
            async for chunk in response.aiter_raw():
                yield chunk

    async def text(self, path: str, params: Mapping[str, str]) -> str:
        response = await self._client().get(path, params=params)
        if response.status_code >= 400:
            raise _error(response.status_code, response.content)
        return response.text


def _error(status: int, content: bytes) -> KubeError:
    try:
        body = json.loads(content)
        return KubeError(status, str(body.get("reason", "")), str(body.get("message", "")))
    except (ValueError, AttributeError):
        return KubeError(status, "", content[:200].decode(errors="replace"))
