"""Discovery: built-in groups and CRDs created through the API are served as the real server serves them."""

from __future__ import annotations

from tests.integration.sandbox.helpers import WIDGET_CRD, Api, widget


def test_core_group_lists_pods_with_log_and_status_subresources(api: Api) -> None:
    names = {r["name"] for r in api.get("/api/v1").json()["resources"]}
    assert {
        "pods",
        "pods/status",
        "pods/log",
        "namespaces",
        "events",
        "nodes",
        "configmaps",
        "secrets",
    } <= names


def test_crd_created_through_api_becomes_discoverable_with_short_names_and_categories(api: Api) -> None:
    assert api.get("/apis/example.tensorone.ai/v1").status_code == 404
    assert api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD).status_code == 201
    groups = {g["name"]: g for g in api.get("/apis").json()["groups"]}
    assert groups["example.tensorone.ai"]["preferredVersion"]["version"] == "v1"
    resources = {r["name"]: r for r in api.get("/apis/example.tensorone.ai/v1").json()["resources"]}
    assert resources["widgets"]["shortNames"] == ["wd"]
    assert resources["widgets"]["categories"] == ["tensorone"]
    assert resources["widgets"]["kind"] == "Widget"
    assert "widgets/status" in resources


def test_crd_reports_established_condition(api: Api) -> None:
    created = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD).json()
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}


def test_deleting_a_crd_stops_serving_its_resource(api: Api, widgets: str) -> None:
    assert api.post(widgets, widget("w1")).status_code == 201
    assert api.delete(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.tensorone.ai"
    ).is_success
    assert api.get(widgets).status_code == 404


def test_get_as_table_uses_the_crd_printer_columns(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w1", size=3))
    response = api.client.get(widgets, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    table = response.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Phase", "Size", "Age"]
    assert table["rows"][0]["cells"][:3] == ["w1", None, 3]


def test_version_endpoint_answers(api: Api) -> None:
    assert api.get("/version").json()["major"] == "1"
