"""The sandbox store's per-type listing and no-copy views, and the scheduler that reads through them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tensorone.sandbox.apiserver.registry import Registry, ResourceType
from tensorone.sandbox.apiserver.store import Store
from tensorone.sandbox.config import NodeSpec
from tensorone.sandbox.nodes import build_node
from tensorone.sandbox.scheduler import Scheduler

GADGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.tensorone.ai"},
    "spec": {
        "group": "example.tensorone.ai",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def store() -> Store:
    return Store(Registry())


def _type(store: Store, group: str, version: str, plural: str) -> ResourceType:
    rtype = store.registry.get(group, version, plural)
    assert rtype is not None
    return rtype


def _config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def _pod(name: str, gpus: int = 0, priority_class: str | None = None) -> dict[str, Any]:
    resources = {"requests": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox", "resources": resources}]}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _names(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects]


def test_listing_a_type_ignores_other_types_and_sorts_by_namespace_then_name(store: Store) -> None:
    config_maps = _type(store, "", "v1", "configmaps")
    secrets = _type(store, "", "v1", "secrets")
    namespaces = _type(store, "", "v1", "namespaces")
    store.create(namespaces, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alpha"}})
    for index in range(50):
        store.create(
            secrets, "default", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{index}"}}
        )
    for namespace, name in [("default", "b"), ("alpha", "z"), ("default", "a"), ("alpha", "c")]:
        store.create(config_maps, namespace, _config_map(name))

    everywhere, _ = store.list_objects(config_maps, None)
    in_default, _ = store.list_objects(config_maps, "default")

    assert _names(everywhere) == [("alpha", "c"), ("alpha", "z"), ("default", "a"), ("default", "b")]
    assert _names(in_default) == [("default", "a"), ("default", "b")]
    assert _names(store.view_objects(config_maps)) == _names(everywhere)
    assert _names(store.view_objects(config_maps, "alpha")) == [("alpha", "c"), ("alpha", "z")]


def test_listing_follows_creations_and_deletions(store: Store) -> None:
    config_maps = _type(store, "", "v1", "configmaps")
    for name in ("m", "a", "x"):
        store.create(config_maps, "default", _config_map(name))
    assert _names(store.list_objects(config_maps, None)[0]) == [
        ("default", "a"),
        ("default", "m"),
        ("default", "x"),
    ]

    store.delete(config_maps, "default", "m")
    store.create(config_maps, "default", _config_map("b"))

    assert _names(store.list_objects(config_maps, None)[0]) == [
        ("default", "a"),
        ("default", "b"),
        ("default", "x"),
    ]


def test_listed_objects_are_copies_the_caller_may_change(store: Store) -> None:
    config_maps = _type(store, "", "v1", "configmaps")
    store.create(config_maps, "default", _config_map("a"))

    listed, _ = store.list_objects(config_maps, None)
    listed[0]["data"]["k"] = "changed by the caller"

    assert store.get(config_maps, "default", "a")["data"] == {"k": "v"}


def test_viewed_objects_are_snapshots_that_later_writes_leave_alone(store: Store) -> None:
    config_maps = _type(store, "", "v1", "configmaps")
    store.create(config_maps, "default", _config_map("a"))
    before = store.view_objects(config_maps)
    remembered = copy.deepcopy(before)

    store.patch(config_maps, "default", "a", "application/merge-patch+json", {"data": {"k": "new"}})
    store.patch(
        config_maps,
        "default",
        "a",
        "application/strategic-merge-patch+json",
        {"metadata": {"labels": {"l": "1"}}},
    )
    store.delete(config_maps, "default", "a")

    assert before == remembered
    assert store.view_objects(config_maps) == []


def test_spec_update_leaves_the_stored_status_it_replaces_alone(store: Store) -> None:
    """Pruning against a narrower schema must not reach into the previous version of the object."""
    crds = _type(store, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    store.create(crds, None, GADGET_CRD)
    gadgets = _type(store, "example.tensorone.ai", "v1", "gadgets")
    body = {"apiVersion": "example.tensorone.ai/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}}
    store.create(gadgets, "default", body)
    store.patch(
        gadgets,
        "default",
        "g",
        "application/merge-patch+json",
        {"status": {"extra": 1}},
        subresource="status",
    )
    narrower = copy.deepcopy(store.get(crds, None, GADGET_CRD["metadata"]["name"]))
    schema = narrower["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["status"] = {"type": "object", "properties": {"phase": {"type": "string"}}}
    store.update(crds, None, narrower["metadata"]["name"], narrower)
    gadgets = _type(store, "example.tensorone.ai", "v1", "gadgets")
    [previous] = store.view_objects(gadgets)

    store.patch(gadgets, "default", "g", "application/merge-patch+json", {"spec": {"size": 3}})

    assert previous["status"] == {"extra": 1}
    assert store.get(gadgets, "default", "g")["status"] == {}


def test_deleting_a_crd_drops_its_objects_from_listings(store: Store) -> None:
    crds = _type(store, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    store.create(crds, None, GADGET_CRD)
    gadgets = _type(store, "example.tensorone.ai", "v1", "gadgets")
    for name in ("g1", "g2"):
        body = {"apiVersion": "example.tensorone.ai/v1", "kind": "Gadget", "metadata": {"name": name}}
        store.create(gadgets, "default", body)

    store.delete(crds, None, GADGET_CRD["metadata"]["name"])

    assert store.view_objects(gadgets) == []
    assert store.list_objects(gadgets, None)[0] == []
    assert not any(key[:2] == ("example.tensorone.ai", "gadgets") for key in store.objects)


def test_namespace_deletion_drains_the_listings_of_its_content(store: Store) -> None:
    config_maps = _type(store, "", "v1", "configmaps")
    namespaces = _type(store, "", "v1", "namespaces")
    store.create(namespaces, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    store.create(config_maps, "doomed", _config_map("a"))
    store.create(config_maps, "default", _config_map("kept"))

    store.delete(namespaces, None, "doomed")
    for _ in range(3):  # the collector empties the namespace in one pass and removes it in a later one
        store.collect_garbage()

    assert _names(store.view_objects(config_maps)) == [("default", "kept")]
    assert store.find(namespaces, None, "doomed") is None


def _scheduling_store(store: Store, gpus: int) -> None:
    nodes = _type(store, "", "v1", "nodes")
    store.create(nodes, None, build_node(NodeSpec("node-1", "h100", gpus)))
    classes = _type(store, "scheduling.k8s.io", "v1", "priorityclasses")
    for name, value in (("low", 10), ("high", 1000)):
        body = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
        }
        store.create(classes, None, body)


def test_scheduler_binds_higher_priority_first_and_reports_the_rest(store: Store) -> None:
    _scheduling_store(store, gpus=1)
    pods = _type(store, "", "v1", "pods")
    store.create(pods, "default", _pod("older-low", gpus=1, priority_class="low"))
    store.create(pods, "default", _pod("newer-high", gpus=1, priority_class="high"))

    Scheduler(store).schedule_pending()

    high = store.get(pods, "default", "newer-high")
    low = store.get(pods, "default", "older-low")
    assert high["spec"]["nodeName"] == "node-1"
    assert "nodeName" not in low["spec"]
    [condition] = low["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert condition["message"].startswith("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    reasons = sorted(e["reason"] for e in store.view_objects(_type(store, "", "v1", "events")))
    assert reasons == ["FailedScheduling", "Scheduled"]


def test_scheduler_preempts_a_lower_priority_pod_and_nominates_the_node(store: Store) -> None:
    _scheduling_store(store, gpus=1)
    pods = _type(store, "", "v1", "pods")
    store.create(pods, "default", _pod("low", gpus=1, priority_class="low"))
    scheduler = Scheduler(store)
    scheduler.schedule_pending()
    store.create(pods, "default", _pod("high", gpus=1, priority_class="high"))

    scheduler.schedule_pending()

    assert store.get(pods, "default", "high")["status"]["nominatedNodeName"] == "node-1"
    victim = store.get(pods, "default", "low")
    assert victim["metadata"]["deletionTimestamp"]
    assert any(c["type"] == "DisruptionTarget" for c in victim["status"]["conditions"])


def test_scheduler_writes_nothing_when_no_pod_is_pending(store: Store) -> None:
    _scheduling_store(store, gpus=1)
    pods = _type(store, "", "v1", "pods")
    store.create(pods, "default", _pod("only"))
    scheduler = Scheduler(store)
    scheduler.schedule_pending()
    version = store.resource_version

    scheduler.schedule_pending()

    assert store.resource_version == version
