"""Server-side ``Table`` rendering, which ``kubectl get`` asks for and prints as-is.

Column sets follow the real server's printers for the built-in types used here (pods, nodes, events,
namespaces, services) and a CRD's ``additionalPrinterColumns`` for custom resources.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from tensorone.sandbox.apiserver.registry import ResourceType

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them (``45s``, ``3m20s``, ``5h``, ``2d3h``…)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y{hours // 24 % 365}d"


def age(timestamp: str | None) -> str:
    """Age of an RFC 3339 timestamp, or ``<unknown>``."""
    if not timestamp:
        return "<unknown>"
    moment = datetime.datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(tz=datetime.UTC) - moment).total_seconds())


def json_path(obj: Any, expression: str) -> Any:
    """Evaluate the JSONPath subset CRDs use in printer columns: ``.a.b``, ``[0]``, ``[?(@.k=="v")]``."""
    expression = expression.strip().lstrip("{").rstrip("}").lstrip("$")
    tokens = re.findall(r"\.([^.\[\]]+)|\[(\d+)\]|\[\?\(@\.([^=!]+)==[\"']?([^\"')]*)[\"']?\)\]", expression)
    current: Any = obj
    for field, index, filter_key, filter_value in tokens:
        if current is None:
            return None
        if field:
            current = current.get(field) if isinstance(current, dict) else None
        elif index:
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        else:
            current = next(
                (
                    item
                    for item in current or []
                    if isinstance(item, dict) and str(item.get(filter_key)) == filter_value
                ),
                None,
            )
    return current


def _column(name: str, kind: str = "string", priority: int = 0, fmt: str = "", description: str = "") -> Obj:
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


def _pod_status(pod: Obj) -> tuple[str, str, int]:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    reason = status.get("reason") or status.get("phase") or "Unknown"
    ready = 0
    restarts = 0
    running = False
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount", 0))
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = term.get("reason") or (
                f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif cs.get("ready") and "running" in state:
            running = True
            ready += 1
    if reason == "Completed" and running:
        reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return f"{ready}/{len(containers)}", reason, restarts


def _pod_row(pod: Obj) -> list[Any]:
    ready, reason, restarts = _pod_status(pod)
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    return [
        pod["metadata"]["name"],
        ready,
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node_row(node: Obj) -> list[Any]:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    info = (node.get("status") or {}).get("nodeInfo") or {}
    addresses = {a["type"]: a["address"] for a in (node.get("status") or {}).get("addresses") or []}
    return [
        node["metadata"]["name"],
        state,
        "<none>",
        age(node["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        "<none>",
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _event_row(event: Obj) -> list[Any]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    return [
        age(last),
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        event.get("message") or event.get("note", ""),
    ]


def _service_row(svc: Obj) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = (
        ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", ""),
        "<none>",
        ports,
        age(svc["metadata"].get("creationTimestamp")),
        selector,
    ]


_BUILTIN: dict[str, tuple[list[Obj], Any]] = {
    "pods": (
        [
            _column("Name", fmt="name"),
            _column("Ready"),
            _column("Status"),
            _column("Restarts", "string"),
            _column("Age"),
            _column("IP", priority=1),
            _column("Node", priority=1),
            _column("Nominated Node", priority=1),
            _column("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "nodes": (
        [
            _column("Name", fmt="name"),
            _column("Status"),
            _column("Roles"),
            _column("Age"),
            _column("Version"),
            _column("Internal-IP", priority=1),
            _column("External-IP", priority=1),
            _column("OS-Image", priority=1),
            _column("Kernel-Version", priority=1),
            _column("Container-Runtime", priority=1),
        ],
        _node_row,
    ),
    "events": (
        [_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"), _column("Message")],
        _event_row,
    ),
    "services": (
        [
            _column("Name", fmt="name"),
            _column("Type"),
            _column("Cluster-IP"),
            _column("External-IP"),
            _column("Port(s)"),
            _column("Age"),
            _column("Selector", priority=1),
        ],
        _service_row,
    ),
    "namespaces": (
        [_column("Name", fmt="name"), _column("Status"), _column("Age")],
        lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", ""),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "configmaps": (
        [_column("Name", fmt="name"), _column("Data", "integer"), _column("Age")],
        lambda o: [
            o["metadata"]["name"],
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "secrets": (
        [_column("Name", fmt="name"), _column("Type"), _column("Data", "integer"), _column("Age")],
        lambda o: [
            o["metadata"]["name"],
            o.get("type", "Opaque"),
            len(o.get("data") or {}),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "customresourcedefinitions": (
        [_column("Name", fmt="name"), _column("Created At", "date")],
        lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")],
    ),
}


def _custom_columns(rtype: ResourceType, version: str) -> tuple[list[Obj], Any]:
    columns = rtype.printer_columns.get(version) or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    definitions = [_column("Name", fmt="name", description="Name must be unique within a namespace.")] + [
        _column(
            c["name"],
            c.get("type", "string"),
            int(c.get("priority", 0)),
            c.get("format", ""),
            c.get("description", ""),
        )
        for c in columns
    ]

    def row(obj: Obj) -> list[Any]:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in columns:
            value = json_path(obj, column["jsonPath"])
            if column.get("type") == "date" and isinstance(value, str):
                value = age(value)
            elif isinstance(value, dict | list):
                value = json.dumps(value)
            cells.append(value)
        return cells

    return definitions, row


def to_table(
    rtype: ResourceType,
    version: str,
    objects: list[Obj],
    resource_version: str,
    include_object: str = "PartialObjectMetadata",
) -> Obj:
    """Render objects as a ``meta.k8s.io/v1`` Table."""
    if rtype.custom:
        definitions, row = _custom_columns(rtype, version)
    elif rtype.plural in _BUILTIN and (rtype.group == "" or rtype.plural in ("customresourcedefinitions",)):
        definitions, row = _BUILTIN[rtype.plural]
    else:
        definitions = [_column("Name", fmt="name"), _column("Age")]

        def row(obj: Obj) -> list[Any]:
            return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))]

    rows = []
    for obj in objects:
        entry: Obj = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
