"""A scheduler that binds pending pods to fake nodes the way kube-scheduler's default filters would.

Filters: nodeSelector, required nodeAffinity terms, taints/tolerations, and resource requests against
allocatable minus what bound, unfinished pods request. A pod that fits nowhere stays Pending with
``PodScheduled=False, reason Unschedulable`` and the real scheduler's message, plus a FailedScheduling event.
Preemption follows the default PreemptLowerPriority policy in its simple form: when resources are the only
obstacle, the fewest lowest-priority pods on the first node where that suffices are deleted (with their grace
period, a ``DisruptionTarget`` condition and a ``Preempted`` event), and the pod is nominated to that node.
PodDisruptionBudgets are not consulted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from typing import Any

from tensorone.sandbox.apiserver import errors
from tensorone.sandbox.apiserver.selectors import Requirement
from tensorone.sandbox.apiserver.store import Event, Obj, Store, now_rfc3339
from tensorone.sandbox.quantity import parse_quantity

logger = logging.getLogger(__name__)


def pod_requests(pod: Obj) -> dict[str, float]:
    """Total requests of a pod's containers (max with init containers, as the scheduler computes)."""
    total: dict[str, float] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        for res, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[res] = total.get(res, 0.0) + parse_quantity(value)
    for container in (pod.get("spec") or {}).get("initContainers") or []:
        for res, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[res] = max(total.get(res, 0.0), parse_quantity(value))
    total["pods"] = 1
    return total


def _matches_term(term: dict[str, Any], labels: dict[str, str]) -> bool:
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists", "Gt": ">", "Lt": "<"}
    for expr in term.get("matchExpressions") or []:
        requirement = Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ()))
        if not requirement.matches(labels):
            return False
    return True


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def unfit_reasons(pod: Obj, node: Obj, used: dict[str, float]) -> list[str]:
    """Why a node cannot take a pod, worded as kube-scheduler's filter plugins word it (empty = it fits)."""
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    selector = spec.get("nodeSelector") or {}
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = affinity.get("nodeSelectorTerms") or []
    if any(labels.get(k) != v for k, v in selector.items()) or (
        terms and not any(_matches_term(t, labels) for t in terms)
    ):
        return ["node(s) didn't match Pod's node affinity/selector"]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            spec.get("tolerations") or [], taint
        ):
            shown = (
                f"{{{taint.get('key')}: {taint.get('value', '')}}}"
                if taint.get("value")
                else f"{{{taint.get('key')}}}"
            )
            return [f"node(s) had untolerated taint {shown}"]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    reasons = []
    for res, amount in sorted(pod_requests(pod).items()):
        if amount <= 0:
            continue
        available = parse_quantity(allocatable.get(res, "0")) - used.get(res, 0.0)
        if amount > available + 1e-9:
            reasons.append("Too many pods" if res == "pods" else f"Insufficient {res}")
    return reasons


def unschedulable_message(total: int, reasons: Counter[str]) -> str:
    """``0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: ...`` as kube-scheduler writes it."""
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    helpful = sum(
        count for reason, count in reasons.items() if reason.startswith(("Insufficient", "Too many"))
    )
    parts = []
    if total - helpful:
        parts.append(f"{total - helpful} Preemption is not helpful for scheduling")
    if helpful:
        parts.append(f"{helpful} No preemption victims found for incoming pod")
    return f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are available: {', '.join(parts)}."


def _add_requests(usage: dict[str, dict[str, float]], node: str, pod: Obj) -> None:
    """Count a pod's requests as used on a node."""
    used = usage.setdefault(node, {})
    for res, amount in pod_requests(pod).items():
        used[res] = used.get(res, 0.0) + amount


async def _scheduling_input_changed(queue: asyncio.Queue[Event], timeout: float) -> bool:
    """Wait up to ``timeout`` for store events and take all queued ones; True if a pod or node changed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(timeout, 0.0)):
            events = [await queue.get()]
        while not queue.empty():
            events.append(queue.get_nowait())
        return any(not e.group and e.plural in ("pods", "nodes") for e in events)
    return False


class Scheduler:
    """Binds pods with an empty ``spec.nodeName`` whose schedulerName is the default one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pods = store.registry.get("", "v1", "pods")
        self._nodes = store.registry.get("", "v1", "nodes")
        self._events = store.registry.get("", "v1", "events")
        self._reported: dict[str, str] = {}

    async def run(self) -> None:
        """React to pod and node changes until cancelled (and retry unschedulable pods every second).

        Other writes (the Events it records itself, custom resources, config maps…) cannot change where a
        pod fits, so they do not trigger a pass over all pods; the one-second retry still comes in between.
        """
        queue = self.store.subscribe()
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.schedule_pending()
                retry_at = loop.time() + 1.0
                while not await _scheduling_input_changed(queue, retry_at - loop.time()):
                    if loop.time() >= retry_at:
                        break
        finally:
            self.store.unsubscribe(queue)

    def _usage(self, pods: list[Obj]) -> dict[str, dict[str, float]]:
        """Node name -> resources that bound, unfinished pods request there."""
        usage: dict[str, dict[str, float]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                _add_requests(usage, node, pod)
        return usage

    @staticmethod
    def _pending(pods: list[Obj]) -> list[Obj]:
        """Unbound pods for this scheduler that are not being deleted, highest priority first, then oldest."""
        pending = [
            p
            for p in pods
            if not (p.get("spec") or {}).get("nodeName")
            and (p.get("spec") or {}).get("schedulerName", "default-scheduler") == "default-scheduler"
            and not p["metadata"].get("deletionTimestamp")
        ]
        pending.sort(
            key=lambda p: (
                -int((p.get("spec") or {}).get("priority") or 0),
                p["metadata"]["creationTimestamp"],
            )
        )
        return pending

    def schedule_pending(self) -> None:
        """One scheduling pass over all pending, unbound pods (oldest first).

        Runs after every batch of store events, so it reads the stored pods without copying them and stops
        before looking at nodes or usage when nothing is pending (the common case).
        """
        assert self._pods is not None
        assert self._nodes is not None
        pods = self.store.view_objects(self._pods)
        pending = self._pending(pods)
        if not pending:
            return
        nodes = self.store.view_objects(self._nodes)
        usage = self._usage(pods)
        for pod in pending:
            self._schedule_one(pod, nodes, pods, usage)

    def _schedule_one(
        self, pod: Obj, nodes: list[Obj], pods: list[Obj], usage: dict[str, dict[str, float]]
    ) -> None:
        """Bind a pod to the first node that fits, or report it unschedulable and try preemption."""
        reasons: Counter[str] = Counter()
        chosen = None
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            why = unfit_reasons(pod, node, usage.get(node["metadata"]["name"], {}))
            if why:
                reasons.update(why)
            elif chosen is None:
                chosen = node["metadata"]["name"]
        try:
            if chosen is not None:
                self._bind(pod, chosen)
                _add_requests(usage, chosen, pod)
            else:
                self._mark_unschedulable(pod, unschedulable_message(len(nodes), reasons))
                nominated = (pod.get("status") or {}).get("nominatedNodeName") or self._preempt(
                    pod, nodes, pods, usage
                )
                if nominated:  # keep the room being freed for this pod, not for lower-priority ones
                    _add_requests(usage, nominated, pod)
        except errors.ApiError as exc:  # the pod changed or vanished meanwhile; the next pass retries
            logger.debug("scheduling %s failed: %s", pod["metadata"]["name"], exc.message)

    def _preempt(
        self, pod: Obj, nodes: list[Obj], pods: list[Obj], usage: dict[str, dict[str, float]]
    ) -> str | None:
        """Delete lower-priority pods from the first node where that makes the pod fit; return that node."""
        assert self._pods is not None
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never":
            return None
        priority = int(spec.get("priority") or 0)
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            name = str(node["metadata"]["name"])
            used = dict(usage.get(name, {}))
            if any(not r.startswith(("Insufficient", "Too many")) for r in unfit_reasons(pod, node, {})):
                continue
            candidates = sorted(
                (
                    p
                    for p in pods
                    if (p.get("spec") or {}).get("nodeName") == name
                    and int((p.get("spec") or {}).get("priority") or 0) < priority
                    and not p["metadata"].get("deletionTimestamp")
                    and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                ),
                key=lambda p: (int(p["spec"].get("priority") or 0), p["metadata"]["creationTimestamp"]),
            )
            victims: list[Obj] = []
            while unfit_reasons(pod, node, used) and candidates:
                victim = candidates.pop(0)
                victims.append(victim)
                for res, amount in pod_requests(victim).items():
                    used[res] = used.get(res, 0.0) - amount
            if unfit_reasons(pod, node, used):
                continue
            for victim in victims:
                self._evict(victim, pod, name)
            meta = pod["metadata"]
            self.store.patch(
                self._pods,
                meta["namespace"],
                meta["name"],
                "application/merge-patch+json",
                {"status": {"nominatedNodeName": name}},
                subresource="status",
            )
            return name
        return None

    def _evict(self, victim: Obj, preemptor: Obj, node: str) -> None:
        assert self._pods is not None
        meta = victim["metadata"]
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": "default-scheduler: preempting to accommodate a higher priority pod",
            "lastTransitionTime": now_rfc3339(),
        }
        self._set_condition(meta, condition)
        self.record_event(
            victim, "Normal", "Preempted", f"Preempted by pod {preemptor['metadata']['uid']} on node {node}"
        )
        self.store.delete(self._pods, meta["namespace"], meta["name"])

    def _bind(self, pod: Obj, node: str) -> None:
        assert self._pods is not None
        meta = pod["metadata"]
        self.store.bind(self._pods, meta["namespace"], meta["name"], node)  # one write, as a Binding is
        self.record_event(
            pod, "Normal", "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}"
        )
        self._reported.pop(meta["uid"], None)

    def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        assert self._pods is not None
        meta = pod["metadata"]
        if self._reported.get(meta["uid"]) == message:
            return
        self._reported[meta["uid"]] = message
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339(),
        }
        self._set_condition(meta, condition)
        self.record_event(pod, "Warning", "FailedScheduling", message)

    def _set_condition(self, meta: Obj, condition: Obj) -> None:
        """Merge one condition into a pod's status by type, as the scheduler's status writes do."""
        assert self._pods is not None
        self.store.patch(
            self._pods,
            meta["namespace"],
            meta["name"],
            "application/strategic-merge-patch+json",
            {"status": {"conditions": [condition]}},
            subresource="status",
        )

    def record_event(self, pod: Obj, event_type: str, reason: str, message: str) -> None:
        """A core/v1 Event from the default-scheduler, as ``kubectl describe pod`` shows them."""
        record_event(self.store, pod, event_type, reason, message, "default-scheduler")


def record_event(
    store: Store,
    obj: Obj,
    event_type: str,
    reason: str,
    message: str,
    component: str,
    host: str | None = None,
) -> None:
    """Create a core/v1 Event about an object (used by the scheduler and the node agent)."""
    events = store.registry.get("", "v1", "events")
    assert events is not None
    meta = obj["metadata"]
    now = now_rfc3339()
    source = {"component": component, **({"host": host} if host else {})}
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": meta.get("namespace", "default"),
        },
        "involvedObject": {
            "kind": obj.get("kind", "Pod"),
            "apiVersion": obj.get("apiVersion", "v1"),
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }
    with contextlib.suppress(errors.ApiError):
        store.create(events, meta.get("namespace", "default"), body)
