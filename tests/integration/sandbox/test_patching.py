"""PATCH types and PUT, as the real server applies them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.sandbox.helpers import Api, widget

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def two_container_pod(api: Api) -> str:
    manifest: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {
            "nodeSelector": {"nowhere": "true"},
            "containers": [
                {
                    "name": "a",
                    "image": "i",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                },
                {"name": "b", "image": "i"},
            ],
            "volumes": [{"name": "v1", "emptyDir": {}}],
        },
    }
    assert api.post(PODS, manifest).status_code == 201
    return f"{PODS}/p"


def test_strategic_merge_patch_merges_containers_and_env_by_name(api: Api, two_container_pod: str) -> None:
    patch = {"spec": {"containers": [{"name": "a", "image": "j", "env": [{"name": "Y", "value": "3"}]}]}}
    spec = api.patch(two_container_pod, patch, kind="strategic").json()["spec"]
    assert [c["name"] for c in spec["containers"]] == ["a", "b"]
    assert spec["containers"][0]["image"] == "j"
    assert spec["containers"][0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]


def test_strategic_merge_patch_deletes_list_item_with_patch_directive(
    api: Api, two_container_pod: str
) -> None:
    patch = {"spec": {"volumes": [{"name": "v1", "$patch": "delete"}]}}
    assert api.patch(two_container_pod, patch, kind="strategic").json()["spec"].get("volumes", []) == []


def test_strategic_merge_patch_merges_status_conditions_by_type(api: Api, two_container_pod: str) -> None:
    api.patch(
        f"{two_container_pod}/status",
        {"status": {"conditions": [{"type": "A", "status": "True"}]}},
        kind="strategic",
    )
    status = api.patch(
        f"{two_container_pod}/status",
        {"status": {"conditions": [{"type": "B", "status": "False"}]}},
        kind="strategic",
    ).json()["status"]
    by_type = {c["type"]: c["status"] for c in status["conditions"]}
    assert (by_type["A"], by_type["B"]) == ("True", "False")


def test_merge_patch_replaces_lists_and_null_deletes_keys(api: Api, two_container_pod: str) -> None:
    api.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}}
    )
    meta = api.patch("/api/v1/namespaces/default/configmaps/c", {"metadata": {"labels": {"a": None}}}).json()
    assert meta["metadata"]["labels"] == {"b": "2"}


def test_json_patch_applies_operations_in_order(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1", size=1, tags=["x"]))
    ops = [
        {"op": "replace", "path": "/spec/size", "value": 4},
        {"op": "add", "path": "/spec/tags/-", "value": "y"},
        {"op": "test", "path": "/spec/size", "value": 4},
    ]
    spec = api.patch(f"{widgets}/w1", ops, kind="json").json()["spec"]
    assert spec["size"] == 4
    assert spec["tags"] == ["x", "y"]


def test_json_patch_failed_test_operation_is_422_and_changes_nothing(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1", size=1))
    ops = [
        {"op": "replace", "path": "/spec/size", "value": 4},
        {"op": "test", "path": "/spec/size", "value": 5},
    ]
    assert api.patch(f"{widgets}/w1", ops, kind="json").status_code == 422
    assert api.get(f"{widgets}/w1").json()["spec"]["size"] == 1


def test_strategic_merge_patch_on_custom_resource_is_415(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1"))
    assert api.patch(f"{widgets}/w1", {"spec": {"size": 2}}, kind="strategic").status_code == 415


def test_put_on_status_subresource_replaces_status_only(api: Api, widgets: str) -> None:
    obj = api.post(widgets, widget("w1")).json()
    obj["status"] = {"phase": "Done"}
    obj["spec"]["size"] = 7
    result = api.put(f"{widgets}/w1/status", obj).json()
    assert result["status"] == {"phase": "Done"}
    assert result["spec"]["size"] == 1
