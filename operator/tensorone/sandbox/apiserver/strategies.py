"""Per-type behaviour the real API server applies on create (defaults, initial status) and validates.

Kept apart from the storage so the storage stays generic: the real server also splits these into per-resource
"strategies". Only the types and fields this project relies on get their real defaults.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from tensorone.sandbox.apiserver.registry import ResourceType

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end"
    " with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is"
    " '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must"
    " start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is"
    " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
# Types whose names must be DNS-1123 labels rather than subdomains.
_LABEL_NAMED = frozenset({"namespaces", "services"})
# Types whose names are free-form path segments (RBAC objects may hold ':').
_PATH_NAMED = frozenset({"roles", "rolebindings", "clusterroles", "clusterrolebindings", "events"})


def validate_name(rtype: ResourceType, name: str) -> list[dict[str, str]]:
    """Name causes as the server words them (``metadata.name: Invalid value: ...``)."""
    if rtype.plural in _PATH_NAMED:
        bad = not name or "/" in name or name in (".", "..")
        return [_invalid_name(name, "may not contain '/'")] if bad else []
    if rtype.plural in _LABEL_NAMED:
        causes = []
        if len(name) > 63:
            causes.append(_invalid_name(name, "must be no more than 63 characters"))
        if not DNS1123_LABEL.match(name):
            causes.append(_invalid_name(name, _LABEL_MESSAGE))
        return causes
    causes = []
    if len(name) > 253:
        causes.append(_invalid_name(name, "must be no more than 253 characters"))
    if not DNS1123_SUBDOMAIN.match(name):
        causes.append(_invalid_name(name, _SUBDOMAIN_MESSAGE))
    return causes


def _invalid_name(name: str, why: str) -> dict[str, str]:
    return {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "{name}": {why}',
        "field": "metadata.name",
    }


def validate_builtin(rtype: ResourceType, obj: dict[str, Any]) -> list[dict[str, str]]:
    """The few built-in validations the project can trip over (pods without containers, CRD naming)."""
    causes: list[dict[str, str]] = []
    if rtype.plural == "pods" and not rtype.group:
        containers = (obj.get("spec") or {}).get("containers") or []
        if not containers:
            causes.append(
                {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
            )
        for index, container in enumerate(containers):
            for required in ("name", "image"):
                if not container.get(required):
                    causes.append(
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value",
                            "field": f"spec.containers[{index}].{required}",
                        }
                    )
    if rtype.plural == "customresourcedefinitions":
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if obj["metadata"]["name"] != expected:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.name",
                    "message": f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural+"."+spec.group',
                }
            )
    return causes


def _quantity_default_requests(container: dict[str, Any]) -> None:
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        requests = resources.setdefault("requests", {})
        for key, value in limits.items():
            requests.setdefault(key, value)


def _qos_class(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or []
    reqs = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res)
        and (r.get("limits") or {}).get(res) == (r.get("requests") or {}).get(res)
        for r in reqs
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_for_create(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Apply the defaults and initial status the real server sets when it stores a new object."""
    if rtype.group == "" and rtype.plural == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append(
                    {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                )
        for container in spec.get("containers") or []:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            image = str(container.get("image", ""))
            latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            _quantity_default_requests(container)
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
    elif rtype.group == "" and rtype.plural == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif rtype.group == "" and rtype.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None":
            spec["clusterIP"] = f"10.96.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif rtype.group == "" and rtype.plural == "persistentvolumeclaims":
        obj["status"] = {
            "phase": "Bound",
            "accessModes": (obj.get("spec") or {}).get("accessModes", []),
            "capacity": ((obj.get("spec") or {}).get("resources") or {}).get("requests", {}),
        }
    elif rtype.group == "" and rtype.plural == "secrets":
        obj.setdefault("type", "Opaque")
    elif rtype.plural == "customresourcedefinitions":
        names = obj["spec"]["names"]
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        obj["status"] = {
            "acceptedNames": dict(names),
            "storedVersions": [v["name"] for v in obj["spec"].get("versions", []) if v.get("storage")],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                },
            ],
        }
    elif rtype.custom and rtype.has_status:
        obj.pop("status", None)
