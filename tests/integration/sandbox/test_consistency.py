"""Object identity and optimistic concurrency: uid, timestamps, resourceVersion, 409s, generation."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.helpers import Api, widget

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def test_create_sets_uid_creation_timestamp_and_generation_one(api: Api, widgets: str) -> None:
    meta = api.post(widgets, widget("w1")).json()["metadata"]
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1


def test_resource_version_increases_with_every_write(api: Api) -> None:
    first = api.post(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "1"}}).json()
    second = api.patch(f"{CONFIGMAPS}/a", {"data": {"k": "2"}}).json()
    third = api.post(CONFIGMAPS, {"metadata": {"name": "b"}}).json()
    versions = [int(o["metadata"]["resourceVersion"]) for o in (first, second, third)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3
    assert int(api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]) >= versions[-1]


def test_creating_an_existing_name_is_409_already_exists(api: Api) -> None:
    api.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    response = api.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    assert response.status_code == 409
    assert response.json()["reason"] == "AlreadyExists"
    assert response.json()["message"] == 'configmaps "a" already exists'


@pytest.mark.parametrize("verb", ["put", "merge-patch", "json-patch"])
def test_write_with_stale_resource_version_is_409_conflict(api: Api, verb: str) -> None:
    created = api.post(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "1"}}).json()
    stale = created["metadata"]["resourceVersion"]
    api.patch(f"{CONFIGMAPS}/a", {"data": {"k": "2"}})
    if verb == "put":
        created["data"] = {"k": "3"}
        response = api.put(f"{CONFIGMAPS}/a", created)
    elif verb == "merge-patch":
        response = api.patch(f"{CONFIGMAPS}/a", {"metadata": {"resourceVersion": stale}, "data": {"k": "3"}})
    else:
        response = api.patch(
            f"{CONFIGMAPS}/a",
            [{"op": "replace", "path": "/metadata/resourceVersion", "value": stale}],
            kind="json",
        )
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"
    assert "the object has been modified" in response.json()["message"]


def test_put_with_current_version_replaces_the_object(api: Api) -> None:
    created = api.post(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "1", "old": "x"}}).json()
    created["data"] = {"k": "2"}
    replaced = api.put(f"{CONFIGMAPS}/a", created)
    assert replaced.status_code == 200
    assert replaced.json()["data"] == {"k": "2"}


@pytest.mark.parametrize(
    ("patch", "generation"),
    [
        pytest.param({"spec": {"size": 2}}, 2, id="spec-change-bumps"),
        pytest.param({"metadata": {"labels": {"a": "b"}}}, 1, id="metadata-change-keeps"),
        pytest.param({"spec": {"size": 1}}, 1, id="no-op-keeps"),
    ],
)
def test_generation_increments_on_spec_changes_only(
    api: Api, widgets: str, patch: dict, generation: int
) -> None:
    api.post(widgets, widget("w1", size=1))
    assert api.patch(f"{widgets}/w1", patch).json()["metadata"]["generation"] == generation


def test_status_subresource_changes_only_status(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1", size=1))
    result = api.patch(f"{widgets}/w1/status", {"spec": {"size": 5}, "status": {"phase": "Running"}}).json()
    assert result["status"] == {"phase": "Running"}
    assert result["spec"]["size"] == 1
    assert result["metadata"]["generation"] == 1


def test_main_endpoint_ignores_status_changes(api: Api, widgets: str) -> None:
    created = api.post(widgets, {**widget("w1"), "status": {"phase": "Forged"}}).json()
    assert "status" not in created
    api.patch(f"{widgets}/w1/status", {"status": {"phase": "Running"}})
    result = api.patch(f"{widgets}/w1", {"spec": {"size": 2}, "status": {"phase": "Forged"}}).json()
    assert result["status"] == {"phase": "Running"}
    assert result["spec"]["size"] == 2


def test_creating_in_a_missing_namespace_is_404(api: Api) -> None:
    response = api.post("/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "a"}})
    assert response.status_code == 404
    assert response.json()["message"] == 'namespaces "nope" not found'


def test_invalid_name_is_422_naming_metadata_name(api: Api) -> None:
    response = api.post(CONFIGMAPS, {"metadata": {"name": "Bad_Name"}})
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_generate_name_gets_a_random_suffix(api: Api) -> None:
    name = api.post(CONFIGMAPS, {"metadata": {"generateName": "job-"}}).json()["metadata"]["name"]
    assert name.startswith("job-")
    assert len(name) == len("job-") + 5
