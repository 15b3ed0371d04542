"""Helpers for the sandbox contract tests: a tiny HTTP client, a test CRD like the product's, manifests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tensorone.sandbox.testing import RunningSandbox

WIDGETS = "/apis/example.tensorone.ai/v1/namespaces/default/widgets"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.tensorone.ai"},
    "spec": {
        "group": "example.tensorone.ai",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["tensorone"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 8},
                                    "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                                    "name": {"type": "string", "maxLength": 10, "pattern": "^[a-z]+$"},
                                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "phase": {"type": "string"},
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


class Api:
    """Raw HTTP access to the sandbox, as any Kubernetes client would do it."""

    def __init__(self, sandbox: RunningSandbox, namespace: str = "default") -> None:
        self.client = sandbox.http()
        self.namespace = namespace

    @property
    def pods(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def create_namespace(self) -> None:
        """Create the namespace and wait for its default ServiceAccount (pods are refused until it exists)."""
        assert self.post("/api/v1/namespaces", {"metadata": {"name": self.namespace}}).status_code == 201
        self.wait_for(
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/default",
            lambda r: r.status_code == 200 and bool(r.json().get("secrets")),
        )

    def delete_namespace(self, timeout: float = 30) -> None:
        """Delete the namespace's pods at once (their GPUs free for the next test), then the namespace."""
        self.request("DELETE", self.pods, {"gracePeriodSeconds": 0})
        self.wait_for(self.pods, lambda r: not r.json().get("items"), timeout=timeout)
        self.delete(f"/api/v1/namespaces/{self.namespace}")

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", **params: Any
    ) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        return self.client.request(
            method, path, content=content, params=params, headers={"Content-Type": content_type}
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, **params)

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.request("POST", path, body, **params)

    def put(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.request("PUT", path, body, **params)

    def patch(self, path: str, body: Any, kind: str = "merge", **params: Any) -> httpx.Response:
        types = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }
        return self.request("PATCH", path, body, types[kind], **params)

    def delete(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.request("DELETE", path, body, **params)

    def wait_for(
        self, path: str, predicate: Callable[[httpx.Response], bool], timeout: float = 10
    ) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(path)
            if predicate(response):
                return response
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting on {path}: last {response.status_code} {response.text}"
                )
            time.sleep(0.05)


def widget(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    """A Widget manifest."""
    return {
        "apiVersion": "example.tensorone.ai/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


def pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """A single-container pod manifest running a command with the project's Python."""
    labels = spec.pop("labels", {})
    container = {"name": "main", "image": "python:3.11", "command": command, **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def watch_events(api: Api, path: str, count: int, timeout: int = 2, **params: Any) -> list[dict[str, Any]]:
    """The first ``count`` watch events on ``path`` (fewer if the server ends the watch after ``timeout`` s)."""
    events: list[dict[str, Any]] = []
    query = {"watch": "true", "timeoutSeconds": timeout, **params}
    with api.client.stream("GET", path, params=query) as response:
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) >= count:
                break
    return events


def processes_with(marker: str) -> list[int]:
    """This machine's processes whose command line holds ``marker``: how a test finds a pod's processes (a pod sees
    only its own PID namespace, so the PIDs it could print are not this machine's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process; it may vanish between two reads of /proc."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False
