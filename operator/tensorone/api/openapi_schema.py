"""Turn pydantic JSON Schemas into Kubernetes structural OpenAPI v3 schemas.

Kubernetes accepts only *structural* schemas in a CRD: every field typed outside logical junctors, no
``$ref``, no ``additionalProperties: false``, no defaults or types inside ``oneOf``. The spec is a union
discriminated by ``modelType``, so its branches are merged into one structural schema, and what differs
per branch (required keys, keys that belong to other model types, enum values) goes into ``oneOf`` branches
that hold only constraints, which the structural rules allow.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]

_DROPPED_KEYS = frozenset({"title", "discriminator", "examples", "additionalProperties", "$defs", "readOnly"})
_LEAF_IGNORED_IN_COMPARISON = frozenset({"default", "description"})


class SchemaConflictError(ValueError):
    """Two union branches give the same field different constraints; the merged CRD could not state both."""


def resolve_refs(schema: Schema, defs: dict[str, Schema] | None = None) -> Schema:
    """Inline every ``$ref`` of a pydantic schema (pydantic's schemas have no recursive models here)."""
    defs = schema.get("$defs", {}) if defs is None else defs

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = walk(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
                siblings = {k: walk(v) for k, v in node.items() if k != "$ref"}
                return {**target, **siblings}
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: Schema = walk(schema)
    return result


def to_structural(node: Schema, *, keep_defaults: bool = True) -> Schema:
    """Convert one resolved pydantic (JSON Schema 2020-12) node to OpenAPI v3.0 as Kubernetes reads it."""
    if "anyOf" in node:
        non_null = [branch for branch in node["anyOf"] if branch.get("type") != "null"]
        if len(non_null) == 1:
            merged = {**non_null[0], **{k: v for k, v in node.items() if k not in {"anyOf", "default"}}}
            if keep_defaults and node.get("default") is not None:
                merged["default"] = node["default"]
            return to_structural(merged, keep_defaults=keep_defaults)
    if "oneOf" in node:
        return merge_union([to_structural(b, keep_defaults=keep_defaults) for b in node["oneOf"]], node)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "default":
            if keep_defaults and value is not None:
                out["default"] = value
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "properties":
            out["properties"] = {k: to_structural(v, keep_defaults=keep_defaults) for k, v in value.items()}
        elif key == "items":
            out["items"] = to_structural(value, keep_defaults=keep_defaults)
        else:
            out[key] = value
    if "properties" in out:
        out.setdefault("type", "object")
        # Computed fields (serialization schemas mark them readOnly and required) are written by every model
        # that serializes, but a client patching the object without the models need not send them.
        computed = {k for k, v in node["properties"].items() if isinstance(v, dict) and v.get("readOnly")}
        if computed and "required" in out:
            out["required"] = [k for k in out["required"] if k not in computed]
            if not out["required"]:
                del out["required"]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def merge_union(branches: list[Schema], union_node: Schema | None = None) -> Schema:
    """One structural schema for a union: merged fields outside, per-branch constraints in ``oneOf``."""
    merged = _merge(branches, path="")
    merged["oneOf"] = [_branch_constraints(merged, branch) for branch in branches]
    if union_node and "description" in union_node:
        merged["description"] = union_node["description"]
    return merged


def _is_object(node: Schema) -> bool:
    return node.get("type") == "object" and "properties" in node


def _merge(nodes: list[Schema], path: str) -> Schema:
    if all(_is_object(n) for n in nodes):
        properties: dict[str, list[Schema]] = {}
        for node in nodes:
            for key, sub in node["properties"].items():
                properties.setdefault(key, []).append(sub)
        merged: Schema = {"type": "object"}
        if "description" in nodes[0]:
            merged["description"] = nodes[0]["description"]
        merged["properties"] = {k: _merge(subs, f"{path}.{k}") for k, subs in properties.items()}
        required = set.intersection(*(set(n.get("required", [])) for n in nodes))
        if required:
            merged["required"] = sorted(required)
        return merged
    first = {k: v for k, v in nodes[0].items() if k not in _LEAF_IGNORED_IN_COMPARISON}
    enums: list[Any] = []
    for node in nodes:
        other = {k: v for k, v in node.items() if k not in _LEAF_IGNORED_IN_COMPARISON}
        if {k: v for k, v in other.items() if k != "enum"} != {k: v for k, v in first.items() if k != "enum"}:
            raise SchemaConflictError(f"union branches disagree on {path or '<root>'}: {first} vs {other}")
        enums.extend(e for e in node.get("enum", []) if e not in enums)
    leaf = {k: v for k, v in nodes[0].items() if k != "default"}
    defaults = [n.get("default") for n in nodes]
    if defaults[0] is not None and all(d == defaults[0] for d in defaults):
        leaf["default"] = defaults[0]
    if enums:
        leaf["enum"] = enums
    return leaf


def _branch_constraints(merged: Schema, branch: Schema) -> Schema:
    if not _is_object(merged):
        if "enum" in branch and branch["enum"] != merged.get("enum"):
            return {"enum": branch["enum"]}
        return {}
    out: Schema = {}
    branch_props: dict[str, Schema] = branch.get("properties", {})
    extra_required = sorted(set(branch.get("required", [])) - set(merged.get("required", [])))
    if extra_required:
        out["required"] = extra_required
    foreign = [k for k in merged["properties"] if k not in branch_props]
    if foreign:
        out["not"] = {"anyOf": [{"required": [k]} for k in foreign]}
    if "allOf" in branch:
        out["allOf"] = branch["allOf"]
    nested = {}
    for key, sub in branch_props.items():
        constraint = _branch_constraints(merged["properties"][key], sub)
        if constraint:
            nested[key] = constraint
    if nested:
        out["properties"] = nested
    return out


def drop_defaults(node: Any) -> Any:
    """A copy of a structural schema without any ``default`` (for parts that the server must not fill)."""
    if isinstance(node, dict):
        return {k: drop_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [drop_defaults(item) for item in node]
    return node
