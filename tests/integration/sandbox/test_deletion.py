"""Finalizers, deletionTimestamp and ownerReference garbage collection."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.sandbox.helpers import Api, widget

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _owned_by(owner: dict[str, Any], name: str, block: bool = False) -> dict[str, Any]:
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
        "controller": True,
    }
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


def test_delete_with_finalizer_sets_deletion_timestamp_and_keeps_object(api: Api, widgets: str) -> None:
    api.post(widgets, {**widget("w1"), "metadata": {"name": "w1", "finalizers": ["tensorone.ai/cleanup"]}})
    assert api.delete(f"{widgets}/w1").status_code == 200
    obj = api.get(f"{widgets}/w1").json()
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["generation"] == 2


def test_removing_last_finalizer_deletes_object(api: Api, widgets: str) -> None:
    api.post(widgets, {**widget("w1"), "metadata": {"name": "w1", "finalizers": ["tensorone.ai/cleanup"]}})
    api.delete(f"{widgets}/w1")
    api.patch(f"{widgets}/w1", {"metadata": {"finalizers": None}})
    assert api.get(f"{widgets}/w1").status_code == 404


def test_no_new_finalizers_once_deleting(api: Api, widgets: str) -> None:
    api.post(widgets, {**widget("w1"), "metadata": {"name": "w1", "finalizers": ["a"]}})
    api.delete(f"{widgets}/w1")
    response = api.patch(f"{widgets}/w1", {"metadata": {"finalizers": ["a", "b"]}})
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "metadata.finalizers"


def test_delete_missing_object_is_404(api: Api) -> None:
    response = api.delete(f"{CONFIGMAPS}/missing")
    assert response.status_code == 404
    assert response.json()["reason"] == "NotFound"


def test_delete_precondition_on_uid_is_409(api: Api) -> None:
    api.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    response = api.delete(f"{CONFIGMAPS}/a", {"preconditions": {"uid": "not-it"}})
    assert response.status_code == 409


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_garbage_collector_deletes_dependents_of_deleted_owner(api: Api, widgets: str, policy: str) -> None:
    owner = api.post(widgets, widget("w1")).json()
    api.post(CONFIGMAPS, _owned_by(owner, "child", block=True))
    api.delete(f"{widgets}/w1", {"propagationPolicy": policy})
    api.wait_for(f"{CONFIGMAPS}/child", lambda r: r.status_code == 404)
    api.wait_for(f"{widgets}/w1", lambda r: r.status_code == 404)


def test_foreground_deletion_keeps_owner_until_dependents_are_gone(api: Api, widgets: str) -> None:
    owner = api.post(widgets, widget("w1")).json()
    child = _owned_by(owner, "child", block=True)
    child["metadata"]["finalizers"] = ["hold"]
    api.post(CONFIGMAPS, child)
    api.delete(f"{widgets}/w1", {"propagationPolicy": "Foreground"})
    held = api.wait_for(f"{CONFIGMAPS}/child", lambda r: bool(r.json()["metadata"].get("deletionTimestamp")))
    assert held.status_code == 200
    assert "foregroundDeletion" in api.get(f"{widgets}/w1").json()["metadata"]["finalizers"]
    api.patch(f"{CONFIGMAPS}/child", {"metadata": {"finalizers": None}})
    api.wait_for(f"{widgets}/w1", lambda r: r.status_code == 404)


def test_orphan_deletion_keeps_dependents_without_owner_reference(api: Api, widgets: str) -> None:
    owner = api.post(widgets, widget("w1")).json()
    api.post(CONFIGMAPS, _owned_by(owner, "child"))
    api.delete(f"{widgets}/w1", {"propagationPolicy": "Orphan"})
    api.wait_for(f"{widgets}/w1", lambda r: r.status_code == 404)
    child = api.get(f"{CONFIGMAPS}/child").json()
    assert "ownerReferences" not in child["metadata"]


def test_deleting_a_namespace_deletes_its_content(api: Api) -> None:
    api.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    api.post("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "a"}})
    terminating = api.delete("/api/v1/namespaces/team").json()
    assert terminating["status"]["phase"] == "Terminating"
    api.wait_for("/api/v1/namespaces/team", lambda r: r.status_code == 404)
    assert api.get("/api/v1/namespaces/team/configmaps").json()["items"] == []
