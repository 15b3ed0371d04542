"""CRD schema validation, defaulting and pruning, worded like the real API server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.sandbox.helpers import WIDGET_CRD, Api, widget

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        pytest.param({}, "spec.size", "Required value", id="required"),
        pytest.param(
            {"size": "big"},
            "spec.size",
            'Invalid value: "string": spec.size in body must be of type integer: "string"',
            id="type",
        ),
        pytest.param(
            {"size": 0},
            "spec.size",
            "Invalid value: 0: spec.size in body should be greater than or equal to 1",
            id="minimum",
        ),
        pytest.param(
            {"size": 9},
            "spec.size",
            "Invalid value: 9: spec.size in body should be less than or equal to 8",
            id="maximum",
        ),
        pytest.param(
            {"size": 1, "color": "green"},
            "spec.color",
            'Unsupported value: "green": supported values: "red", "blue"',
            id="enum",
        ),
        pytest.param(
            {"size": 1, "name": "abcdefghijk"},
            "spec.name",
            "Too long: may not be more than 10 bytes",
            id="max-length",
        ),
        pytest.param(
            {"size": 1, "name": "AB"},
            "spec.name",
            "Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'",
            id="pattern",
        ),
        pytest.param(
            {"size": 1, "tags": ["a", "b", "c"]},
            "spec.tags",
            "Too many: 3: must have at most 2 items",
            id="max-items",
        ),
    ],
)
def test_invalid_custom_resource_is_422_with_cause_naming_the_field(
    api: Api, widgets: str, spec: dict[str, Any], field: str, message: str
) -> None:
    response = api.post(widgets, {**widget("w1"), "spec": spec})
    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == "Invalid"
    assert {"field": field, "message": message} in [
        {"field": c["field"], "message": c["message"]} for c in body["details"]["causes"]
    ]
    assert body["message"].startswith('Widget.example.tensorone.ai "w1" is invalid: ')
    assert api.get(f"{widgets}/w1").status_code == 404


def test_invalid_patch_is_422_and_leaves_object_unchanged(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1", size=2))
    assert api.patch(f"{widgets}/w1", {"spec": {"size": 100}}).status_code == 422
    assert api.get(f"{widgets}/w1").json()["spec"]["size"] == 2


def test_schema_defaults_are_applied(api: Api, widgets: str) -> None:
    assert api.post(widgets, widget("w1")).json()["spec"]["color"] == "red"


def test_unknown_fields_are_pruned_but_preserved_where_schema_says_so(api: Api, widgets: str) -> None:
    created = api.post(widgets, widget("w1", unknown=1, extra={"free": {"form": True}})).json()
    assert "unknown" not in created["spec"]
    assert created["spec"]["extra"] == {"free": {"form": True}}


def test_unknown_fields_warn_by_default(api: Api, widgets: str) -> None:
    response = api.post(widgets, widget("w1", unknown=1))
    assert response.status_code == 201
    assert 'unknown field \\"spec.unknown\\"' in response.headers["Warning"]


def test_strict_field_validation_refuses_unknown_fields_with_400(api: Api, widgets: str) -> None:
    response = api.post(widgets, widget("w1", unknown=1), fieldValidation="Strict")
    assert response.status_code == 400
    assert response.json()["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.unknown"'
    )


def test_status_update_is_validated_against_schema(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1"))
    response = api.patch(f"{widgets}/w1/status", {"status": {"phase": 3}})
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "status.phase"


def test_bad_status_field_is_refused_with_the_full_validation_message(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1"))

    response = api.patch(f"{widgets}/w1/status", {"status": {"phase": 3, "conditions": "none"}})

    assert response.status_code == 422
    body = response.json()
    assert body["message"] == (
        'Widget.example.tensorone.ai "w1" is invalid: ['
        'status.phase: Invalid value: "integer": status.phase in body must be of type string: "integer", '
        'status.conditions: Invalid value: "string": status.conditions in body must be of type array: "string"]'
    )
    assert [c["field"] for c in body["details"]["causes"]] == ["status.phase", "status.conditions"]


def _tighten_widget_size(api: Api, maximum: int) -> None:
    """Lower ``spec.size``'s maximum in the Widget CRD (an upgrade that tightens the schema)."""
    crd = api.get(f"{CRDS}/{WIDGET_CRD['metadata']['name']}").json()
    tightened = copy.deepcopy(crd)
    schema = tightened["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"]["maximum"] = maximum
    response = api.put(f"{CRDS}/{WIDGET_CRD['metadata']['name']}", tightened)
    assert response.status_code == 200, response.text


def test_status_write_is_not_refused_for_a_stored_spec_that_a_tightened_schema_forbids(
    api: Api, widgets: str
) -> None:
    """Validation ratcheting (Kubernetes >= 1.30) with the status strategy keeping the old spec: a controller
    can still report status on objects created before a schema change; a spec write is judged anew."""
    api.post(widgets, widget("w1", size=8))
    _tighten_widget_size(api, maximum=4)

    status = api.patch(f"{widgets}/w1/status", {"status": {"phase": "Running"}})
    spec = api.patch(f"{widgets}/w1", {"spec": {"size": 6}})
    bad_status = api.patch(f"{widgets}/w1/status", {"status": {"phase": 3}})

    assert status.status_code == 200, status.text
    assert status.json()["status"]["phase"] == "Running"
    assert spec.status_code == 422
    assert [c["message"] for c in spec.json()["details"]["causes"]] == [
        "Invalid value: 6: spec.size in body should be less than or equal to 4"
    ]
    assert bad_status.status_code == 422
    assert [c["field"] for c in bad_status.json()["details"]["causes"]] == ["status.phase"]
    assert api.get(f"{widgets}/w1").json()["spec"]["size"] == 8


def test_pod_without_containers_is_422(api: Api) -> None:
    response = api.post(
        "/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {"containers": []}}
    )
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "spec.containers"
