"""Merge patch, strategic merge patch and JSON patch semantics (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.sandbox.apiserver.errors import ApiError
from tensorone.sandbox.apiserver.patching import json_merge_patch, json_patch, strategic_merge_patch


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}, {"a": {"c": 2}}, id="null-deletes"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
        pytest.param({"a": 1}, {"b": {"c": 1}}, {"a": 1, "b": {"c": 1}}, id="adds-nested"),
    ],
)
def test_json_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(
            {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]},
            {"containers": [{"name": "a", "image": "2"}]},
            {"containers": [{"name": "a", "image": "2"}, {"name": "b"}]},
            id="containers-by-name",
        ),
        pytest.param(
            {"env": [{"name": "X", "value": "1"}]},
            {"env": [{"name": "Y", "value": "2"}]},
            {"env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            id="env-appends",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "False"}]},
            {"conditions": [{"type": "Ready", "status": "True"}]},
            {"conditions": [{"type": "Ready", "status": "True"}]},
            id="conditions-by-type",
        ),
        pytest.param(
            {"volumes": [{"name": "a"}, {"name": "b"}]},
            {"volumes": [{"name": "a", "$patch": "delete"}]},
            {"volumes": [{"name": "b"}]},
            id="patch-delete",
        ),
        pytest.param(
            {"finalizers": ["a"]}, {"finalizers": ["b"]}, {"finalizers": ["a", "b"]}, id="finalizers-union"
        ),
        pytest.param({"args": ["a"]}, {"args": ["b"]}, {"args": ["b"]}, id="other-lists-replace"),
        pytest.param(
            {"containers": [{"name": "a"}]},
            {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "x": 1}]},
            {"containers": [{"name": "a", "x": 1}]},
            id="ignores-ordering-directive",
        ),
    ],
)
def test_strategic_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert strategic_merge_patch(target, patch) == expected


def test_json_patch_operations() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/1", "value": 9},
        {"op": "remove", "path": "/b/c"},
        {"op": "move", "from": "/a/0", "path": "/b/first"},
        {"op": "copy", "from": "/b/first", "path": "/d"},
    ]
    assert json_patch(doc, ops) == {"a": [9, 2], "b": {"first": 1}, "d": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}


def test_json_patch_on_missing_path_is_422() -> None:
    with pytest.raises(ApiError) as info:
        json_patch({}, [{"op": "remove", "path": "/nope"}])
    assert info.value.code == 422
