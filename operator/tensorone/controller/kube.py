"""A small asynchronous Kubernetes client for the operator's own calls (kopf watches with its own).

It speaks plain REST over aiohttp with the kubeconfig's server and token (or the in-cluster service account),
treats 409 AlreadyExists as success on create and 404 as success on delete, and counts requests by verb so the
metrics and the benchmark can report API calls per job.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tensorone.api.spec import API_GROUP, API_VERSION, DATASET_PLURAL, TRAINING_JOB_PLURAL

_IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_PLURALS = {
    "Pod": ("api/v1", "pods"),
    "Service": ("api/v1", "services"),
    "ConfigMap": ("api/v1", "configmaps"),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims"),
    "ServiceAccount": ("api/v1", "serviceaccounts"),
    "Event": ("api/v1", "events"),
    "Node": ("api/v1", "nodes"),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "TrainingJob": (f"apis/{API_GROUP}/{API_VERSION}", TRAINING_JOB_PLURAL),
    "Dataset": (f"apis/{API_GROUP}/{API_VERSION}", DATASET_PLURAL),
}


class ApiStatusError(Exception):
    """An unexpected answer of the API server."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:500]}")
        self.status = status


class ConflictError(ApiStatusError):
    """409 on an update: someone else changed the object first."""


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate."""

    server: str
    token: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None


def _materialise(data: str | None, suffix: str) -> str | None:
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=suffix)  # noqa: SIM115 - lives as long as the process
    handle.write(base64.b64decode(data))
    handle.close()
    return handle.name


def load_connection(kubeconfig: str | Path | None = None) -> Connection:
    """From ``kubeconfig`` (else ``$KUBECONFIG``, else in-cluster, else ``~/.kube/config``)."""
    chosen = kubeconfig or os.environ.get("KUBECONFIG")
    if not chosen and (_IN_CLUSTER / "token").exists():
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        return Connection(
            server=f"https://{host}:{port}",
            token=(_IN_CLUSTER / "token").read_text().strip(),
            ca_file=str(_IN_CLUSTER / "ca.crt"),
        )
    path = Path(chosen or Path.home() / ".kube" / "config")
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    context_name = document.get("current-context")
    context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
    user: dict[str, Any] = next(
        (u["user"] for u in document.get("users", []) if u["name"] == context.get("user")), {}
    )
    return Connection(
        server=cluster["server"].rstrip("/"),
        token=user.get("token"),
        ca_file=cluster.get("certificate-authority")
        or _materialise(cluster.get("certificate-authority-data"), ".crt"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_file=user.get("client-certificate") or _materialise(user.get("client-certificate-data"), ".crt"),
        key_file=user.get("client-key") or _materialise(user.get("client-key-data"), ".key"),
    )


def object_path(
    kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None
) -> str:
    prefix, plural = _PLURALS[kind]
    path = f"/{prefix}/namespaces/{namespace}/{plural}" if namespace else f"/{prefix}/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class KubeClient:
    """The operator's REST calls; one aiohttp session per process."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.requests: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.connection.server.startswith("https"):
            return False
        if self.connection.insecure:
            return False
        context = ssl.create_default_context(cafile=self.connection.ca_file)
        if self.connection.cert_file and self.connection.key_file:
            context.load_cert_chain(self.connection.cert_file, self.connection.key_file)
        return context

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.connection.token}"} if self.connection.token else {}
            self._session = aiohttp.ClientSession(
                base_url=self.connection.server,
                headers=headers,
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=64),
                timeout=aiohttp.ClientTimeout(total=60),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self,
        verb: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        answer: bool = True,
    ) -> tuple[int, Any]:
        """(status, body). ``answer=False``: a success's body (the whole object, for a create or a patch) is read
        but not parsed, since the caller does not use it; an error's is still returned, as text."""
        self.requests[verb] += 1
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self.session.request(verb, path, json=body, params=params, headers=headers) as response:
            if not answer and response.status < 300:
                await response.read()  # read to the end, so the connection goes back to the pool
                return response.status, None
            if response.content_type == "application/json" and answer:
                return response.status, await response.json()
            return response.status, await response.text()

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        status, body = await self._call("GET", object_path(kind, namespace, name))
        if status == 404:
            return None
        if status >= 300:
            raise ApiStatusError(status, str(body))
        result: dict[str, Any] = body
        return result

    async def list(
        self, kind: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        status, body = await self._call("GET", object_path(kind, namespace), params=params)
        if status >= 300:
            raise ApiStatusError(status, str(body))
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    async def create(self, manifest: dict[str, Any]) -> bool:
        """Create ``manifest``; False when it already exists (another pass or operator made it)."""
        meta = manifest["metadata"]
        status, body = await self._call(
            "POST", object_path(manifest["kind"], meta.get("namespace")), body=manifest, answer=False
        )
        if status == 409:
            return False
        if status >= 300:
            raise ApiStatusError(status, str(body))
        return True

    async def delete(self, kind: str, namespace: str, name: str, grace_seconds: int | None = None) -> bool:
        """Delete; False when it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds  # type: ignore[assignment]
        status, text = await self._call("DELETE", object_path(kind, namespace, name), body=body, answer=False)
        if status == 404:
            return False
        if status >= 300:
            raise ApiStatusError(status, str(text))
        return True

    async def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> bool:
        """Merge-patch the object; False when it is gone. A ``metadata.resourceVersion`` in ``body`` guards it
        (:class:`ConflictError` when stale)."""
        status, result = await self._call(
            "PATCH",
            object_path(kind, namespace, name),
            body=body,
            content_type="application/merge-patch+json",
            answer=False,
        )
        if status == 404:
            return False
        if status == 409:
            raise ConflictError(status, str(result))
        if status >= 300:
            raise ApiStatusError(status, str(result))
        return True

    async def patch_status(
        self, kind: str, namespace: str, name: str, status_patch: dict[str, Any], resource_version: str | None
    ) -> dict[str, Any]:
        """Merge-patch ``status``, guarded by ``resource_version``: a stale writer gets :class:`ConflictError`."""
        body: dict[str, Any] = {"status": status_patch}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        status, result = await self._call(
            "PATCH",
            object_path(kind, namespace, name, "status"),
            body=body,
            content_type="application/merge-patch+json",
        )
        if status == 409:
            raise ConflictError(status, str(result))
        if status >= 300:
            raise ApiStatusError(status, str(result))
        patched: dict[str, Any] = result
        return patched

    async def read_log(self, namespace: str, pod: str, limit_bytes: int, container: str | None = None) -> str:
        """The log of the pod (of its ``container``, which a pod of several needs), its last ``limit_bytes`` (0:
        all)."""
        params = {"container": container} if container is not None else None
        status, text = await self._call("GET", object_path("Pod", namespace, pod, "log"), params=params)
        if status >= 300:
            return ""
        return str(text)[-limit_bytes:] if limit_bytes else str(text)
