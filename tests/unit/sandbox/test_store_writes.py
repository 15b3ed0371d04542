"""What store writes hand out: the stored object to watchers, a private copy to callers; Binding's condition."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.sandbox.apiserver import errors
from tensorone.sandbox.apiserver.registry import Registry, ResourceType
from tensorone.sandbox.apiserver.store import Store


@pytest.fixture
def store() -> Store:
    return Store(Registry())


def _type(store: Store, plural: str) -> ResourceType:
    rtype = store.registry.get("", "v1", plural)
    assert rtype is not None
    return rtype


def _pod(name: str) -> dict[str, Any]:
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def test_a_write_returns_a_copy_the_caller_may_change(store: Store) -> None:
    config_maps = _type(store, "configmaps")
    created = store.create(config_maps, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}}).obj
    patched = store.patch(
        config_maps, "default", "a", "application/merge-patch+json", {"data": {"k": "w"}}
    ).obj

    created["data"]["k"] = "changed"
    patched["data"]["k"] = "changed"

    assert store.get(config_maps, "default", "a")["data"] == {"k": "w"}


def test_watch_events_carry_the_stored_object_of_their_version(store: Store) -> None:
    config_maps = _type(store, "configmaps")
    queue = store.subscribe()
    store.create(config_maps, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    store.patch(config_maps, "default", "a", "application/merge-patch+json", {"data": {"k": "w"}})

    added, modified = queue.get_nowait(), queue.get_nowait()

    assert added.obj["data"] == {"k": "v"}  # an older version keeps showing its own state
    assert modified.previous is added.obj
    assert modified.obj is store.view_object(config_maps, "default", "a")


def test_binding_replaces_an_unschedulable_condition_whole_in_one_write(store: Store) -> None:
    pods = _type(store, "pods")
    store.create(pods, "default", _pod("p"))
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "full"}
    store.patch(
        pods,
        "default",
        "p",
        "application/strategic-merge-patch+json",
        {"status": {"conditions": [{**unschedulable, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
        subresource="status",
    )
    version = store.resource_version

    bound = store.bind(pods, "default", "p", "node-1").obj

    assert store.resource_version == version + 1
    assert bound["spec"]["nodeName"] == "node-1"
    [condition] = bound["status"]["conditions"]
    assert set(condition) == {"type", "status", "lastProbeTime", "lastTransitionTime"}
    assert (condition["status"], condition["lastProbeTime"]) == ("True", None)
    assert condition["lastTransitionTime"] != "2026-01-01T00:00:00Z"


def test_binding_a_pod_being_deleted_is_refused(store: Store) -> None:
    pods = _type(store, "pods")
    store.create(pods, "default", {**_pod("p"), "metadata": {"name": "p", "finalizers": ["example.com/x"]}})
    store.delete(pods, "default", "p")

    with pytest.raises(errors.ApiError) as refused:
        store.bind(pods, "default", "p", "node-1")

    assert refused.value.code == 409
    assert "nodeName" not in store.get(pods, "default", "p")["spec"]
