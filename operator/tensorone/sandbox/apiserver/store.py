"""In-memory object storage with the consistency rules of the real API server.

Every write goes through here so that uid, creationTimestamp, a monotonic resourceVersion, optimistic
concurrency (409 on a stale version), generation, status-subresource isolation, finalizers, graceful deletion,
schema validation and ownerReference garbage collection behave as clients expect. Writes are synchronous (no
``await`` inside), which makes each one atomic on the event loop; watchers receive committed events in order.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import functools
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tensorone.sandbox.apiserver import errors, patching, schema, strategies
from tensorone.sandbox.apiserver.registry import Registry, ResourceType, type_from_crd

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name
TypeKey = tuple[str, str]  # group, plural
NameKey = tuple[str, str]  # namespace ("" if cluster-scoped), name

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now_rfc3339(offset_seconds: float = 0) -> str:
    """Timestamps as the server writes them (UTC, second precision)."""
    if not offset_seconds:
        return _this_second()
    moment = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_formatted_second: tuple[int, str] = (-1, "")


def _this_second() -> str:
    """The current second, formatted once per second (every write stamps a time, often many per second)."""
    global _formatted_second
    second = int(time.time())
    if _formatted_second[0] != second:
        _formatted_second = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _formatted_second[1]


@dataclass(frozen=True)
class Event:
    """A committed change, as watchers see it.

    ``obj`` and ``previous`` are the stored objects themselves, not copies (every event would otherwise copy
    each written object once more): read them, never change them. ``encoded`` lets the HTTP watches serialise
    an event once per (event type, apiVersion) however many of them stream it.
    """

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    group: str
    plural: str
    namespace: str
    obj: Obj
    previous: Obj | None
    encoded: dict[tuple[str, str], bytes] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class WriteResult:
    """An object after a write, plus warnings to return in ``Warning`` headers.

    ``view`` may be the stored object (read only; the HTTP server serialises it as it is); ``obj`` is a copy
    made on first use, for in-process callers that keep or change what a write returned.
    """

    view: Obj
    warnings: list[str] = field(default_factory=list)

    @functools.cached_property
    def obj(self) -> Obj:
        """The written object, the caller's own (a deep copy of ``view``)."""
        return copy.deepcopy(self.view)


def _spec_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class _TypeIndex:
    """The stored objects of one type, so that listing pods does not scan (or sort) every other object.

    ``objects`` keeps insertion order, as the flat ``Store.objects`` does (a replaced object keeps its place);
    the (namespace, name) listing order is computed once and reused until an object is added or removed.
    """

    def __init__(self) -> None:
        self.objects: dict[NameKey, Obj] = {}
        self._order: list[NameKey] | None = None

    def put(self, name_key: NameKey, obj: Obj) -> None:
        if name_key not in self.objects:
            self._order = None
        self.objects[name_key] = obj

    def drop(self, name_key: NameKey) -> None:
        if self.objects.pop(name_key, None) is not None:
            self._order = None

    def ordered(self, namespace: str | None) -> list[Obj]:
        """The objects sorted by (namespace, name), as the server lists them; all namespaces when None."""
        if self._order is None:
            self._order = sorted(self.objects)
        if namespace is None:
            return [self.objects[k] for k in self._order]
        return [self.objects[k] for k in self._order if k[0] == namespace]


class Store:
    """All objects of the sandbox, plus the event history that watches resume from.

    Stored objects are never changed in place: every write commits a new dict (and deletion drops the
    reference). That is what makes :meth:`view_objects` safe without copies. ``objects`` and the per-type
    index are only written through :meth:`_put` and :meth:`_forget`.
    """

    def __init__(self, registry: Registry, history_size: int = 10000) -> None:
        self.registry = registry
        self.objects: dict[Key, Obj] = {}
        self._by_type: dict[TypeKey, _TypeIndex] = {}
        self.resource_version = 1
        self.history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._gc_wakeup: asyncio.Event | None = None
        for name in DEFAULT_NAMESPACES:
            ns_type = self._type("", "namespaces")
            self.create(ns_type, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # -- plumbing -------------------------------------------------------------------------------------------

    def _type(self, group: str, plural: str) -> ResourceType:
        for rtype in self.registry.all():
            if rtype.group == group and rtype.plural == plural:
                return rtype
        raise errors.resource_not_found(f"{group}/{plural}")

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every committed event from now on (for in-process controllers)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Stop delivering events to a queue."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def oldest_resource_version(self) -> int:
        """The oldest version a watch can resume from without 410 Gone."""
        return self.history[0].resource_version - 1 if self.history else self.resource_version

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does (older watch versions then get 410)."""
        self.history.clear()

    def _commit(self, rtype: ResourceType, event_type: str, obj: Obj, previous: Obj | None) -> Obj:
        """Store ``obj`` (or drop it, for DELETED) under a new resourceVersion and tell the watchers.

        Returns ``obj`` itself, which is now stored (or in the DELETED event): callers copy it before
        handing it to anyone who may change it.
        """
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        key = self._key(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if event_type == "DELETED":
            self._forget(key)
        else:
            self._put(key, obj)
        event = Event(self.resource_version, event_type, rtype.group, rtype.plural, key[2], obj, previous)
        self.history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        if event_type == "DELETED" or obj["metadata"].get("deletionTimestamp"):
            self._wake_gc()
        return obj

    def _put(self, key: Key, obj: Obj) -> None:
        self.objects[key] = obj
        self._by_type.setdefault((key[0], key[1]), _TypeIndex()).put((key[2], key[3]), obj)

    def _forget(self, key: Key) -> None:
        self.objects.pop(key, None)
        index = self._by_type.get((key[0], key[1]))
        if index is not None:
            index.drop((key[2], key[3]))

    def _forget_type(self, group: str, plural: str) -> None:
        """Drop every object of a type at once (its CRD was deleted), without events, as the server does."""
        index = self._by_type.pop((group, plural), None)
        for namespace, name in index.objects if index is not None else ():
            self.objects.pop((group, plural, namespace, name), None)

    def _stored(self, group: str, plural: str) -> list[Obj]:
        """The stored objects of a type in insertion order (no copies: read only)."""
        index = self._by_type.get((group, plural))
        return list(index.objects.values()) if index is not None else []

    def _wake_gc(self) -> None:
        if self._gc_wakeup is not None:
            self._gc_wakeup.set()

    @staticmethod
    def _key(rtype: ResourceType, namespace: str | None, name: str) -> Key:
        return (rtype.group, rtype.plural, namespace or "" if rtype.namespaced else "", name)

    def _existing(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.objects.get(self._key(rtype, namespace, name))
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        """One object (a copy), or 404."""
        return copy.deepcopy(self._existing(rtype, namespace, name))

    def view_object(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        """One stored object without a copy (read only, like :meth:`view_objects`), or 404."""
        return self._existing(rtype, namespace, name)

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """One object (a copy), or None."""
        obj = self.objects.get(self._key(rtype, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list_objects(
        self, rtype: ResourceType, namespace: str | None, predicate: Callable[[Obj], bool] | None = None
    ) -> tuple[list[Obj], int]:
        """Objects of a type (in a namespace, or all when None), sorted as the server sorts them.

        Copies, because the HTTP server hands them out and adjusts them; in-process readers that only look
        use :meth:`view_objects`.
        """
        items = [
            copy.deepcopy(obj)
            for obj in self.view_objects(rtype, namespace)
            if predicate is None or predicate(obj)
        ]
        return items, self.resource_version

    def view_objects(self, rtype: ResourceType, namespace: str | None = None) -> list[Obj]:
        """The stored objects of a type, in :meth:`list_objects` order, without copying them. Do not mutate.

        For in-process controllers (scheduler, node agent) that look at every pod on every event: copying
        them all each time made the sandbox quadratic. The list is a snapshot: a later write stores a new
        dict instead of changing these, so they keep showing the state at the time of the call.
        """
        index = self._by_type.get((rtype.group, rtype.plural))
        return index.ordered(namespace) if index is not None else []

    # -- writes ---------------------------------------------------------------------------------------------

    def _check_namespace(self, rtype: ResourceType, namespace: str | None, name: str) -> None:
        if not rtype.namespaced:
            return
        ns = self.objects.get(("", "namespaces", "", namespace or ""))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace or "")
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden_namespace_terminating(rtype.plural, rtype.group, name, namespace or "")

    def _validate_custom(
        self, rtype: ResourceType, obj: Obj, version: str, strict: bool | None, subresource: str | None = None
    ) -> list[str]:
        """Prune, default and validate a custom resource; on a status write only its status is validated.

        The real server keeps the old spec on status writes and, with validation ratcheting, does not re-judge
        stored fields, so a status write succeeds even when the stored spec no longer fits a since-tightened
        schema (see :func:`schema.validate_status`).
        """
        schema_doc = rtype.schemas.get(version) or rtype.schemas.get(rtype.storage_version)
        if not schema_doc:
            return []
        unknown = schema.prune(obj, schema_doc)
        if unknown and strict:
            shown = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(
                f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}:'
                f" strict decoding error: {shown}"
            )
        schema.apply_defaults(obj, schema_doc)
        causes = (
            schema.validate_status(obj, schema_doc)
            if subresource == "status"
            else schema.validate(obj, schema_doc)
        )
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)
        return [f'unknown field "{path}"' for path in unknown] if strict is None else []

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Obj,
        *,
        version: str | None = None,
        strict: bool | None = False,
        dry_run: bool = False,
    ) -> WriteResult:
        """POST: a new object with uid, timestamps, generation 1 and a fresh resourceVersion."""
        if not isinstance(body, dict):
            raise errors.bad_request("Object 'Kind' is missing in request body")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
                )
            else:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
        name = meta["name"]
        causes = strategies.validate_name(rtype, name)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        self._check_namespace(rtype, meta.get("namespace"), name)
        if self._key(rtype, meta.get("namespace"), name) in self.objects:
            raise errors.already_exists(rtype.plural, rtype.group, name)
        obj["apiVersion"] = rtype.api_version(version)
        obj["kind"] = rtype.kind
        for transient in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        explicit_priority = (obj.get("spec") or {}).get("priority")
        strategies.prepare_for_create(rtype, obj)
        if rtype.plural == "pods" and not rtype.group:
            self._admit_priority(obj, explicit_priority)
        warnings = (
            self._validate_custom(rtype, obj, version or rtype.storage_version, strict)
            if rtype.custom
            else []
        )
        causes = strategies.validate_builtin(rtype, obj)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        if rtype.plural == "customresourcedefinitions":
            try:
                new_type = type_from_crd(obj)
            except (KeyError, TypeError) as exc:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    name,
                    [{"reason": "FieldValueRequired", "field": f"spec.{exc}", "message": "Required value"}],
                ) from exc
        if dry_run:
            return WriteResult(obj, warnings)
        if rtype.plural == "customresourcedefinitions":
            self.registry.add(new_type)
        return WriteResult(self._commit(rtype, "ADDED", obj, None), warnings)

    def _admit_priority(self, pod: Obj, explicit: int | None) -> None:
        """The Priority admission plugin: ``spec.priority`` comes from the PriorityClass (or the global default)."""
        spec = pod["spec"]
        classes = self._stored("scheduling.k8s.io", "priorityclasses")
        wanted = spec.get("priorityClassName")
        chosen = (
            next((c for c in classes if c["metadata"]["name"] == wanted), None)
            if wanted
            else next((c for c in classes if c.get("globalDefault")), None)
        )
        name = pod["metadata"]["name"]
        if wanted and chosen is None:
            raise errors.ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: no PriorityClass with name {wanted} was found',
                {"name": name, "kind": "pods"},
            )
        value = int(chosen.get("value", 0)) if chosen else 0
        if explicit is not None and int(explicit) != value:
            raise errors.ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: the integer value of priority'
                f" ({explicit}) must not be provided in pod spec; priority admission controller"
                f" computed {value} from the given PriorityClass name",
                {"name": name, "kind": "pods"},
            )
        spec["priority"] = value
        if chosen is not None:
            spec["priorityClassName"] = chosen["metadata"]["name"]
            spec.setdefault("preemptionPolicy", chosen.get("preemptionPolicy", "PreemptLowerPriority"))

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        version: str | None = None,
        strict: bool | None = False,
        require_version: bool = False,
        dry_run: bool = False,
    ) -> WriteResult:
        """PUT (or the result of a PATCH): optimistic concurrency, status isolation, generation bumps."""
        old = self._existing(rtype, namespace, name)
        if not isinstance(body, dict):
            raise errors.bad_request("Object 'Kind' is missing in request body")
        return self._replace(
            rtype,
            name,
            old,
            copy.deepcopy(body),
            subresource=subresource,
            version=version,
            strict=strict,
            require_version=require_version,
            dry_run=dry_run,
        )

    def _replace(
        self,
        rtype: ResourceType,
        name: str,
        old: Obj,
        new: Obj,
        *,
        subresource: str | None,
        version: str | None,
        strict: bool | None,
        require_version: bool,
        dry_run: bool,
    ) -> WriteResult:
        """The body of :meth:`update`, for a ``new`` object that this store owns (nobody else holds it)."""
        new_meta = new.setdefault("metadata", {})
        if new_meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({new_meta.get('name')}) does not match the name on the URL ({name})"
            )
        wanted_version = new_meta.get("resourceVersion")
        if wanted_version not in (None, "") and wanted_version != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name)
        if require_version and not wanted_version and rtype.plural in ("namespaces",):
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                name,
                [
                    {
                        "reason": "FieldValueRequired",
                        "field": "metadata.resourceVersion",
                        "message": "Invalid value: 0x0: must be specified for an update",
                    }
                ],
            )
        old_meta = old["metadata"]
        if subresource == "status":
            result = _with_status_of(old, new)
        else:
            result = new
            meta = result["metadata"]
            for immutable in (
                "uid",
                "creationTimestamp",
                "namespace",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
            ):
                if immutable in old_meta:
                    meta[immutable] = old_meta[immutable]
                else:
                    meta.pop(immutable, None)
            if rtype.has_status:
                if "status" in old:  # a copy: schema pruning and defaulting below work in place
                    result["status"] = copy.deepcopy(old["status"])
                else:
                    result.pop("status", None)
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if old_meta.get("deletionTimestamp") and added:
                shown = ", ".join(f'"{f}"' for f in sorted(added))
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    name,
                    [
                        {
                            "reason": "FieldValueForbidden",
                            "field": "metadata.finalizers",
                            "message": "Forbidden: no new finalizers can be added if the object is being deleted, found"
                            f" new finalizers []string{{{shown}}}",
                        }
                    ],
                )
        result["apiVersion"] = old["apiVersion"]
        result["kind"] = old["kind"]
        result["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        warnings: list[str] = []
        if rtype.custom:
            warnings = self._validate_custom(
                rtype, result, version or rtype.storage_version, strict, subresource
            )
        causes = strategies.validate_builtin(rtype, result)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        if _spec_part(result) != _spec_part(old) and subresource != "status":
            result["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if result == old:
            return WriteResult(old, warnings)
        if dry_run:
            return WriteResult(result, warnings)
        if rtype.plural == "customresourcedefinitions":
            self.registry.add(type_from_crd(result))
        released = result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers")
        held_by_kubelet = rtype.plural == "pods" and bool((result.get("spec") or {}).get("nodeName"))
        if released and not held_by_kubelet:
            return WriteResult(self._remove(rtype, result), warnings)
        return WriteResult(self._commit(rtype, "MODIFIED", result, old), warnings)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        version: str | None = None,
        strict: bool | None = False,
        dry_run: bool = False,
    ) -> WriteResult:
        """PATCH with JSON merge, strategic merge or JSON patch semantics (chosen by Content-Type)."""
        old = self._existing(rtype, namespace, name)
        if patch_type == "application/merge-patch+json":
            patched = patching.json_merge_patch(old, body)
        elif patch_type == "application/strategic-merge-patch+json":
            if rtype.custom:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types"
                    " include: application/json-patch+json, application/merge-patch+json,"
                    " application/apply-patch+yaml",
                )
            patched = patching.strategic_merge_patch(old, body)
        elif patch_type == "application/json-patch+json":
            patched = patching.json_patch(old, body)
        else:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format -"
                " accepted media types include: application/json-patch+json,"
                f" application/merge-patch+json, application/apply-patch+yaml (got {patch_type})",
            )
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        meta = patched.setdefault("metadata", {})
        if meta.get("resourceVersion") == old["metadata"]["resourceVersion"]:
            changed = _version_in_patch(patch_type, body)
            if not changed:
                meta.pop("resourceVersion", None)
        return self._replace(  # the patch functions build a new object, so no second copy is needed
            rtype,
            name,
            old,
            patched,
            subresource=subresource,
            version=version,
            strict=strict,
            require_version=False,
            dry_run=dry_run,
        )

    def bind(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        node: str,
        annotations: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """A pod's Binding (``POST pods/NAME/binding``): ``spec.nodeName`` and ``PodScheduled=True`` at once.

        The real server sets both in one storage update (``setPodHostAndAnnotations``), so watchers see one
        MODIFIED event that carries both, never a bound pod without its condition. Like that update it
        bypasses the pod strategy: no validation, no generation bump; the Binding's annotations are merged.
        """
        old = self._existing(rtype, namespace, name)
        assigned = (old.get("spec") or {}).get("nodeName")
        if assigned or old["metadata"].get("deletionTimestamp"):
            why = f'is already assigned to node "{assigned}"' if assigned else "is being deleted"
            raise errors.ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} {why}',
            )
        pod = copy.deepcopy(old)
        pod.setdefault("spec", {})["nodeName"] = node
        if annotations:
            pod["metadata"].setdefault("annotations", {}).update(annotations)
        condition = {"type": "PodScheduled", "status": "True", "lastProbeTime": None}
        _update_pod_condition(pod.setdefault("status", {}), condition)
        return WriteResult(self._commit(rtype, "MODIFIED", pod, old))

    def _remove(self, rtype: ResourceType, obj: Obj) -> Obj:
        previous = self.objects.get(
            self._key(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        )
        removed = self._commit(rtype, "DELETED", obj, previous)
        if rtype.plural == "customresourcedefinitions":
            spec = obj["spec"]
            self.registry.remove(spec["group"], spec["names"]["plural"])
            self._forget_type(spec["group"], spec["names"]["plural"])
        return removed

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """DELETE: honours preconditions, finalizers, propagation policy and pod grace periods.

        Returns the object and whether it is gone already (False while finalizers or a kubelet hold it).
        """
        opts = options or {}
        old = self._existing(rtype, namespace, name)
        preconditions = opts.get("preconditions") or {}
        for what, path in (("UID", "uid"), ("ResourceVersion", "resourceVersion")):
            expected = preconditions.get(path)
            if expected and expected != old["metadata"].get(path):
                raise errors.precondition_failed(
                    rtype.plural, rtype.group, name, what, expected, old["metadata"].get(path, "")
                )
        obj = copy.deepcopy(old)
        meta = obj["metadata"]
        policy = opts.get("propagationPolicy") or ("Orphan" if opts.get("orphanDependents") else "Background")
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            if (
                policy == "Foreground"
                and "foregroundDeletion" not in finalizers
                and self._has_dependents(meta["uid"])
            ):
                finalizers.append("foregroundDeletion")
            if policy == "Orphan" and "orphan" not in finalizers and self._has_dependents(meta["uid"]):
                finalizers.append("orphan")
        if finalizers:
            meta["finalizers"] = finalizers
        grace = _grace_period(rtype, obj, opts)
        bound_pod = (
            rtype.plural == "pods" and not rtype.group and bool((obj.get("spec") or {}).get("nodeName"))
        )
        terminal = (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if dry_run:
            return obj, not finalizers
        if rtype.plural == "namespaces" and not rtype.group:
            return copy.deepcopy(self._start_namespace_deletion(rtype, obj)), False
        if bound_pod and grace > 0 and not terminal:
            if meta.get("deletionTimestamp"):
                current = int(meta.get("deletionGracePeriodSeconds", grace))
                if grace >= current:
                    return obj, False
            meta["deletionTimestamp"] = now_rfc3339(grace)
            meta["deletionGracePeriodSeconds"] = grace
            return copy.deepcopy(self._commit(rtype, "MODIFIED", obj, old)), False
        if finalizers:
            if meta.get("deletionTimestamp"):
                return obj, False
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            if int(meta.get("generation", 0)) > 0:
                meta["generation"] = int(meta["generation"]) + 1
            return copy.deepcopy(self._commit(rtype, "MODIFIED", obj, old)), False
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
        return copy.deepcopy(self._remove(rtype, obj)), True

    def _start_namespace_deletion(self, rtype: ResourceType, obj: Obj) -> Obj:
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        old = copy.deepcopy(obj)
        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        obj["status"] = {"phase": "Terminating"}
        return self._commit(rtype, "MODIFIED", obj, old)

    # -- garbage collection ---------------------------------------------------------------------------------

    def _has_dependents(self, uid: str) -> bool:
        return any(
            ref.get("uid") == uid
            for obj in self.objects.values()
            for ref in obj["metadata"].get("ownerReferences") or []
        )

    def _type_of_key(self, key: Key) -> ResourceType | None:
        for rtype in self.registry.all():
            if rtype.group == key[0] and rtype.plural == key[1]:
                return rtype
        return None

    def collect_garbage(self) -> bool:
        """One pass of the garbage collector; returns True if it changed anything.

        Background: dependents whose owners are all gone are deleted. Foreground: an owner being deleted with
        ``foregroundDeletion`` gets its dependents deleted first, then loses the finalizer. Orphan: dependents
        lose the ownerReference, then the owner loses the ``orphan`` finalizer. Namespaces being deleted lose
        their content first.
        """
        changed = False
        by_uid = {obj["metadata"]["uid"]: obj for obj in self.objects.values()}
        for key, obj in list(self.objects.items()):
            if key not in self.objects:
                continue
            rtype = self._type_of_key(key)
            if rtype is None:
                continue
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs:
                owners = [by_uid.get(ref.get("uid", "")) for ref in refs]
                orphaning = [
                    o
                    for o in owners
                    if o is not None
                    and o["metadata"].get("deletionTimestamp")
                    and "orphan" in (o["metadata"].get("finalizers") or [])
                ]
                live = [o for o in owners if o is not None and o not in orphaning]
                foreground = [
                    o
                    for o in live
                    if o["metadata"].get("deletionTimestamp")
                    and "foregroundDeletion" in (o["metadata"].get("finalizers") or [])
                ]
                if orphaning or (len(live) < len(refs) and live):
                    kept = [ref for ref, owner in zip(refs, owners, strict=True) if owner in live]
                    self.patch(
                        rtype,
                        key[2],
                        key[3],
                        "application/merge-patch+json",
                        {"metadata": {"ownerReferences": kept or None}},
                    )
                    changed = True
                elif (not live or (foreground and len(foreground) == len(live))) and not meta.get(
                    "deletionTimestamp"
                ):
                    policy = "Foreground" if foreground else "Background"
                    self.delete(rtype, key[2], key[3], {"propagationPolicy": policy})
                    changed = True
        for key, obj in list(self.objects.items()):
            meta = obj["metadata"]
            rtype = self._type_of_key(key)
            if rtype is None or not meta.get("deletionTimestamp"):
                continue
            if rtype.plural == "namespaces" and not rtype.group:
                changed = self._drain_namespace(rtype, key[3]) or changed
                continue
            for finalizer in ("foregroundDeletion", "orphan"):
                if finalizer in (meta.get("finalizers") or []) and not self._has_dependents(meta["uid"]):
                    remaining = [f for f in meta["finalizers"] if f != finalizer]
                    self.patch(
                        rtype,
                        key[2],
                        key[3],
                        "application/merge-patch+json",
                        {"metadata": {"finalizers": remaining or None}},
                    )
                    changed = True
                    break
        return changed

    def _drain_namespace(self, ns_type: ResourceType, namespace: str) -> bool:
        contents = [key for key in self.objects if key[2] == namespace and key[1] != "namespaces"]
        for key in contents:
            rtype = self._type_of_key(key)
            if (
                rtype is not None
                and rtype.namespaced
                and not self.objects[key]["metadata"].get("deletionTimestamp")
            ):
                self.delete(rtype, namespace, key[3])
        if not contents:
            ns = self.objects[("", "namespaces", "", namespace)]
            self._remove(ns_type, copy.deepcopy(ns))
            return True
        return False

    async def run_garbage_collector(self, interval: float = 0.05) -> None:
        """Run the collector whenever deletions happen (a background task of the sandbox)."""
        self._gc_wakeup = asyncio.Event()
        while True:
            await self._gc_wakeup.wait()
            self._gc_wakeup.clear()
            await asyncio.sleep(interval)
            while self.collect_garbage():
                await asyncio.sleep(0)


def _with_status_of(old: Obj, new: Obj) -> Obj:
    """A copy of ``old`` whose status is ``new``'s (the status subresource), keys in ``old``'s order.

    Same result as deep-copying ``old`` and then replacing its status, without copying the status that is
    thrown away (pod statuses are the largest part of a pod).
    """
    result: Obj = {}
    for key, value in old.items():
        if key != "status":
            result[key] = copy.deepcopy(value)
        elif "status" in new:
            result[key] = new["status"]
    if "status" in new and "status" not in old:
        result["status"] = new["status"]
    return result


def _update_pod_condition(status: Obj, condition: Obj) -> None:
    """Set a pod condition as the server's ``UpdatePodCondition`` does: replace the one of its type whole.

    ``lastTransitionTime`` is now, or the old one when the status did not change; a new type is appended.
    """
    conditions = status.setdefault("conditions", [])
    index = next((i for i, c in enumerate(conditions) if c.get("type") == condition["type"]), None)
    old = conditions[index] if index is not None else {}
    same = old.get("status") == condition["status"] and "lastTransitionTime" in old
    condition = {**condition, "lastTransitionTime": old["lastTransitionTime"] if same else now_rfc3339()}
    if index is None:
        conditions.append(condition)
    else:
        conditions[index] = condition


def _version_in_patch(patch_type: str, body: Any) -> bool:
    if patch_type == "application/json-patch+json":
        return any(op.get("path") == "/metadata/resourceVersion" for op in body if isinstance(op, dict))
    return isinstance(body, dict) and "resourceVersion" in (body.get("metadata") or {})


def _grace_period(rtype: ResourceType, obj: Obj, opts: Mapping[str, Any]) -> int:
    if opts.get("gracePeriodSeconds") is not None:
        return int(opts["gracePeriodSeconds"])
    if rtype.plural == "pods" and not rtype.group:
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
    return 0
