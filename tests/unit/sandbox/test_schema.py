"""Structural schema defaulting, pruning and validation messages (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.sandbox.apiserver.schema import apply_defaults, prune, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string", "enum": ["a", "b"]},
                "workers": {"type": "integer", "minimum": 1, "default": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "ratio": {"type": "number", "maximum": 1},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
                },
            },
            "oneOf": [{"required": ["workers"]}, {"required": ["port"]}],
        },
    },
}


def test_defaults_fill_absent_fields_only() -> None:
    obj: dict[str, Any] = {"spec": {"mode": "a"}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["workers"] == 1


def test_prune_drops_undeclared_fields_and_reports_their_paths() -> None:
    obj = {
        "metadata": {"name": "x", "anything": 1},
        "spec": {"mode": "a", "bogus": 1, "labels": {"k": "v"}, "items": [{"n": 1, "m": 2}]},
    }
    assert prune(obj, SCHEMA) == ["spec.bogus", "spec.items[0].m"]
    assert obj == {
        "metadata": {"name": "x", "anything": 1},
        "spec": {"mode": "a", "labels": {"k": "v"}, "items": [{"n": 1}]},
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"mode": "a", "workers": 1}, [], id="valid"),
        pytest.param({"mode": "a", "port": "http"}, [], id="int-or-string"),
        pytest.param({"mode": "a", "workers": 1, "ratio": 1}, [], id="integer-is-a-number"),
        pytest.param({"workers": 1}, [("spec.mode", "Required value")], id="required"),
        pytest.param(
            {"mode": "a", "workers": 1, "labels": {"k": 1}},
            [
                (
                    "spec.labels.k",
                    'Invalid value: "integer": spec.labels.k in body must be of type string: "integer"',
                )
            ],
            id="additional-properties",
        ),
        pytest.param(
            {"mode": "a", "workers": 1, "items": [{"n": "x"}]},
            [
                (
                    "spec.items[0].n",
                    'Invalid value: "string": spec.items[0].n in body must be of type integer: "string"',
                )
            ],
            id="array-item-path",
        ),
        pytest.param(
            {"mode": "a", "workers": 1, "port": 80},
            [
                (
                    "spec",
                    'Invalid value: "object": spec in body must validate one and only one schema (oneOf).'
                    " Found 2 valid alternatives",
                )
            ],
            id="one-of",
        ),
    ],
)
def test_validation_causes(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    causes = validate({"spec": spec}, SCHEMA)
    assert [(c["field"], c["message"]) for c in causes] == expected
