"""List filtering with labelSelector and fieldSelector, with the real server's semantics."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.helpers import Api

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def labelled(api: Api) -> None:
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})):
        assert api.post(CONFIGMAPS, {"metadata": {"name": name, "labels": labels}}).status_code == 201


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("app=x", ["a"], id="equals"),
        pytest.param("app==x", ["a"], id="double-equals"),
        pytest.param("app!=x", ["b", "c"], id="not-equals-includes-missing-key"),
        pytest.param("app in (x,y)", ["a", "b"], id="in"),
        pytest.param("app notin (x)", ["b", "c"], id="notin-includes-missing-key"),
        pytest.param("tier", ["a"], id="exists"),
        pytest.param("!tier", ["b", "c"], id="does-not-exist"),
        pytest.param("app=x,tier=web", ["a"], id="and"),
    ],
)
@pytest.mark.usefixtures("labelled")
def test_list_filters_by_label_selector(api: Api, selector: str, expected: list[str]) -> None:
    items = api.get(CONFIGMAPS, labelSelector=selector).json()["items"]
    assert [i["metadata"]["name"] for i in items] == expected


@pytest.mark.usefixtures("labelled")
def test_malformed_label_selector_is_400(api: Api) -> None:
    assert api.get(CONFIGMAPS, labelSelector="app in x)").status_code == 400


@pytest.mark.usefixtures("labelled")
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("metadata.name=b", ["b"], id="name"),
        pytest.param("metadata.name!=b", ["a", "c"], id="name-not"),
        pytest.param("metadata.namespace=default", ["a", "b", "c"], id="namespace"),
    ],
)
def test_list_filters_by_field_selector(api: Api, selector: str, expected: list[str]) -> None:
    items = api.get(CONFIGMAPS, fieldSelector=selector).json()["items"]
    assert [i["metadata"]["name"] for i in items] == expected


def test_unsupported_field_selector_is_400_field_label_not_supported(api: Api) -> None:
    response = api.get(CONFIGMAPS, fieldSelector="data.k=1")
    assert response.status_code == 400
    assert response.json()["message"] == "field label not supported: data.k"


def test_pods_filter_by_status_phase(api: Api) -> None:
    spec = {"containers": [{"name": "c", "image": "i"}], "nodeSelector": {"nowhere": "true"}}
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": spec})
    pending = api.get("/api/v1/pods", fieldSelector="status.phase=Pending").json()["items"]
    running = api.get("/api/v1/pods", fieldSelector="status.phase=Running").json()["items"]
    assert [p["metadata"]["name"] for p in pending] == ["p"]
    assert running == []


def test_cluster_wide_list_spans_namespaces(api: Api) -> None:
    api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    api.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    api.post("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "a"}})
    items = api.get("/api/v1/configmaps", fieldSelector="metadata.name=a").json()["items"]
    assert sorted(i["metadata"]["namespace"] for i in items) == ["default", "other"]
