"""The resource types the sandbox serves: built-in ones, plus CRDs registered when they are created.

Discovery (``/api``, ``/apis``, ``/apis/<group>/<version>``) is computed from this registry, so a CRD created
through the API (``kubectl create -f crds/``) becomes discoverable with its short names, categories and printer
columns exactly when the real server would make it so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ResourceType:
    """One served resource (per group; every served version shares the same storage)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom: bool = False

    @property
    def has_status(self) -> bool:
        """Whether ``/status`` is a separate subresource (and the main endpoint ignores status)."""
        return "status" in self.subresources

    @property
    def storage_version(self) -> str:
        """The preferred (first) served version."""
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        """``apiVersion`` as objects of this type carry it."""
        chosen = version or self.storage_version
        return f"{self.group}/{chosen}" if self.group else chosen


def _core(
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType("", ("v1",), plural, kind.lower(), kind, namespaced, short, categories, sub)


def builtin_types() -> list[ResourceType]:
    """Built-in types this project (operator, facade, trainer, chart, kubectl) touches."""
    return [
        _core("namespaces", "Namespace", False, ("ns",), ("status", "finalize")),
        _core("pods", "Pod", True, ("po",), ("status", "log", "binding", "eviction"), ("all",)),
        _core("services", "Service", True, ("svc",), ("status",), ("all",)),
        _core("endpoints", "Endpoints", True, ("ep",)),
        _core("configmaps", "ConfigMap", True, ("cm",)),
        _core("secrets", "Secret", True),
        _core("serviceaccounts", "ServiceAccount", True, ("sa",), ("token",)),
        _core("events", "Event", True, ("ev",)),
        _core("nodes", "Node", False, ("no",), ("status",)),
        _core("persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
        _core("persistentvolumes", "PersistentVolume", False, ("pv",), ("status",)),
        _core("resourcequotas", "ResourceQuota", True, ("quota",), ("status",)),
        _core("limitranges", "LimitRange", True, ("limits",)),
        ResourceType("events.k8s.io", ("v1",), "events", "event", "Event", True, ("ev",)),
        ResourceType(
            "apps",
            ("v1",),
            "deployments",
            "deployment",
            "Deployment",
            True,
            ("deploy",),
            ("all",),
            ("status", "scale"),
        ),
        ResourceType("batch", ("v1",), "jobs", "job", "Job", True, (), ("all",), ("status",)),
        ResourceType("coordination.k8s.io", ("v1",), "leases", "lease", "Lease", True),
        ResourceType(
            "scheduling.k8s.io", ("v1",), "priorityclasses", "priorityclass", "PriorityClass", False, ("pc",)
        ),
        ResourceType("rbac.authorization.k8s.io", ("v1",), "roles", "role", "Role", True),
        ResourceType(
            "rbac.authorization.k8s.io", ("v1",), "rolebindings", "rolebinding", "RoleBinding", True
        ),
        ResourceType(
            "rbac.authorization.k8s.io", ("v1",), "clusterroles", "clusterrole", "ClusterRole", False
        ),
        ResourceType(
            "rbac.authorization.k8s.io",
            ("v1",),
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            False,
        ),
        ResourceType(
            "policy",
            ("v1",),
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            True,
            ("pdb",),
            (),
            ("status",),
        ),
        ResourceType(
            "apiextensions.k8s.io",
            ("v1",),
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            False,
            ("crd", "crds"),
            ("api-extensions",),
            ("status",),
        ),
    ]


def type_from_crd(crd: dict[str, Any]) -> ResourceType:
    """Build the served type of a CRD object (only its served versions, storage version first)."""
    spec = crd["spec"]
    names = spec["names"]
    versions = [v for v in spec.get("versions", []) if v.get("served", True)]
    versions.sort(key=lambda v: not v.get("storage", False))
    subresources: set[str] = set()
    columns: dict[str, list[dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for version in versions:
        subresources |= set((version.get("subresources") or {}).keys())
        columns[version["name"]] = list(version.get("additionalPrinterColumns") or [])
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema:
            schemas[version["name"]] = schema
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in versions),
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(sorted(subresources)),
        printer_columns=columns,
        schemas=schemas,
        custom=True,
    )


class Registry:
    """Lookup of served types by (group, version, plural), plus discovery documents."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], ResourceType] = {}
        for rtype in builtin_types():
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        """Serve a type (replacing a previous definition of the same group/plural)."""
        self._types[(rtype.group, rtype.plural)] = rtype

    def remove(self, group: str, plural: str) -> None:
        """Stop serving a type (its CRD was deleted)."""
        self._types.pop((group, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at this group/version/plural, if any."""
        rtype = self._types.get((group, plural))
        if rtype is None or version not in rtype.versions:
            return None
        return rtype

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type for an ``apiVersion``/``kind`` pair (used for ownerReferences)."""
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if rtype.group == group and rtype.kind == kind and version in rtype.versions:
                return rtype
        return None

    def all(self) -> list[ResourceType]:
        """Every served type."""
        return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions (preferred first), the core group excluded."""
        result: dict[str, list[str]] = {}
        for rtype in self._types.values():
            if rtype.group:
                versions = result.setdefault(rtype.group, [])
                for version in rtype.versions:
                    if version not in versions:
                        versions.append(version)
        return result

    def api_group_list(self) -> dict[str, Any]:
        """``GET /apis``."""
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self.api_group(name, versions) for name, versions in sorted(self.groups().items())],
        }

    @staticmethod
    def api_group(name: str, versions: list[str]) -> dict[str, Any]:
        """``GET /apis/<group>``."""
        listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": listed,
            "preferredVersion": listed[0],
        }

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """``GET /api/v1`` or ``GET /apis/<group>/<version>``: the APIResourceList, or None if not served."""
        resources: list[dict[str, Any]] = []
        for rtype in sorted(self._types.values(), key=lambda t: t.plural):
            if rtype.group != group or version not in rtype.versions:
                continue
            entry: dict[str, Any] = {
                "name": rtype.plural,
                "singularName": rtype.singular,
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(ALL_VERBS),
            }
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            resources.append(entry)
            for sub in rtype.subresources:
                verbs = (
                    ["get"]
                    if sub == "log"
                    else ["create"]
                    if sub in ("binding", "eviction", "token")
                    else ["get", "patch", "update"]
                )
                kind = {
                    "log": "Pod",
                    "binding": "Binding",
                    "eviction": "Eviction",
                    "token": "TokenRequest",
                    "scale": "Scale",
                }.get(sub, rtype.kind)
                resources.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": kind,
                        "verbs": verbs,
                    }
                )
        if not resources:
            return None
        group_version = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    """``GET /openapi/v3``: one entry per served group/version."""
    paths: dict[str, Any] = {}
    for rtype in registry.all():
        for version in rtype.versions:
            key = f"apis/{rtype.group}/{version}" if rtype.group else f"api/{version}"
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}"}
    return {"paths": paths}


def openapi_v3_group_version(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """``GET /openapi/v3/<gv>``: PATCH operations declaring ``fieldValidation``, which kubectl probes for to
    decide that the server validates fields itself (so it sends ``fieldValidation=Strict``)."""
    paths: dict[str, Any] = {}
    for rtype in registry.all():
        if rtype.group != group or version not in rtype.versions:
            continue
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = (
            f"{prefix}/namespaces/{{namespace}}/{rtype.plural}/{{name}}"
            if rtype.namespaced
            else (f"{prefix}/{rtype.plural}/{{name}}")
        )
        operation = {
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            ],
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rtype.kind},
            "responses": {"200": {"description": "OK"}},
        }
        paths[path] = {"patch": operation, "put": operation}
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
