"""Watch streams: initial state, resumption from a resourceVersion, selectors, bookmarks and 410 Gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tensorone.sandbox.testing import RunningSandbox
from tests.integration.sandbox.helpers import Api, watch_events

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"].get("metadata", {}).get("name", "")) for e in events]


def test_watch_without_version_starts_with_added_events_for_existing_objects(api: Api) -> None:
    api.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    assert _summary(watch_events(api, CONFIGMAPS, 1)) == [("ADDED", "a")]


def test_watch_resumes_after_the_given_resource_version(api: Api) -> None:
    first = api.post(CONFIGMAPS, {"metadata": {"name": "a"}}).json()
    api.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
    api.delete(f"{CONFIGMAPS}/a")
    events = watch_events(api, CONFIGMAPS, 2, resourceVersion=first["metadata"]["resourceVersion"])
    assert _summary(events) == [("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_with_label_selector_sends_deleted_when_object_stops_matching(api: Api) -> None:
    created = api.post(CONFIGMAPS, {"metadata": {"name": "a", "labels": {"app": "x"}}}).json()
    api.post(CONFIGMAPS, {"metadata": {"name": "other"}})
    api.patch(f"{CONFIGMAPS}/a", {"metadata": {"labels": {"app": "y"}}})
    events = watch_events(
        api,
        CONFIGMAPS,
        2,
        resourceVersion=int(created["metadata"]["resourceVersion"]) - 1,
        labelSelector="app=x",
    )
    assert _summary(events) == [("ADDED", "a"), ("DELETED", "a")]


def test_watch_sends_bookmarks_when_allowed(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    sandbox = sandbox_factory(bookmark_interval=0.1)
    api = Api(sandbox.url)
    version = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    events = watch_events(api, CONFIGMAPS, 1, allowWatchBookmarks="true", resourceVersion=version)
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["metadata"]["resourceVersion"] == version


def test_watch_from_a_compacted_version_gets_410_gone(api: Api, sandbox: RunningSandbox) -> None:
    first = api.post(CONFIGMAPS, {"metadata": {"name": "a"}}).json()
    api.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
    sandbox.call(lambda s: s.store.compact())
    events = watch_events(api, CONFIGMAPS, 1, resourceVersion=first["metadata"]["resourceVersion"])
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


def test_watch_of_one_namespace_ignores_others(api: Api) -> None:
    api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    version = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    api.post("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "x"}})
    api.post(CONFIGMAPS, {"metadata": {"name": "y"}})
    assert _summary(watch_events(api, CONFIGMAPS, 1, resourceVersion=version)) == [("ADDED", "y")]
