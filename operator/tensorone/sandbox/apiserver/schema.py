"""Structural-schema defaulting, pruning and validation of custom resources from their CRD's openAPIV3Schema.

kmock stores whatever it is sent. The real API server defaults, prunes unknown fields and refuses invalid objects
with 422 and one cause per field; the product's "every refused request names the field" promise can only be
tested if the sandbox does the same, with the same wording (the apiextensions validator's messages).
CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]
Obj = dict[str, Any]
Cause = dict[str, str]

_ROOT_KEEP = ("apiVersion", "kind", "metadata")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(_type_name(value))
    return json.dumps(value)


def _matches_type(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = schema.get("type")
    if expected is None:
        return True
    actual = _type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    return bool(actual == expected)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_schemaless(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) and "properties" not in schema


def apply_defaults(obj: Any, schema: Schema) -> None:
    """Fill in ``default`` values for absent properties, recursing into present objects and array items."""
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = json.loads(json.dumps(sub["default"]))
            if key in obj:
                apply_defaults(obj[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in obj.items():
                if key not in (schema.get("properties") or {}):
                    apply_defaults(value, extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


def prune(obj: Any, schema: Schema, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not declare; return their paths (for ``fieldValidation=Strict``)."""
    dropped: list[str] = []
    if isinstance(obj, dict):
        if _is_schemaless(schema):
            return dropped
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(obj):
            if root and key in _ROOT_KEEP:
                continue
            if key in properties:
                dropped += prune(obj[key], properties[key], _join(path, key), root=False)
            elif isinstance(extra, dict):
                dropped += prune(obj[key], extra, _join(path, key), root=False)
            elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                continue
            else:
                dropped.append(_join(path, key))
                del obj[key]
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            dropped += prune(item, schema["items"], f"{path}[{index}]", root=False)
    return dropped


def _cause(reason: str, field: str, message: str) -> Cause:
    return {"reason": reason, "message": message, "field": field}


def validate(obj: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Validate a value against a structural schema; return causes worded like the real server's."""
    return list(_validate(obj, schema, path))


# Root keywords that validate() checks against the object as a whole (not per property).
_WHOLE_OBJECT_KEYWORDS = ("allOf", "anyOf", "oneOf", "not", "additionalProperties", "maxProperties")


def validate_status(obj: Obj, schema: Schema) -> list[Cause]:
    """The causes :func:`validate` finds in ``obj``'s status, for writes to the status subresource.

    Such a write keeps the stored spec and metadata, and the real server does not re-judge unchanged fields
    (validation ratcheting), so only the status can be wrong; skipping the rest saves validating the whole
    object on every status update. The causes (paths, wording, order) are those a full validation reports for
    the status. A schema with whole-object constraints at its root is validated whole.
    """
    if any(keyword in schema for keyword in _WHOLE_OBJECT_KEYWORDS):
        return [
            c for c in validate(obj, schema) if c["field"] == "status" or c["field"].startswith("status.")
        ]
    causes: list[Cause] = []
    if "status" in (schema.get("required") or []) and "status" not in obj:
        causes.append(_cause("FieldValueRequired", "status", "Required value"))
    status_schema = (schema.get("properties") or {}).get("status")
    if "status" in obj and status_schema is not None:
        causes += _validate(obj["status"], status_schema, "status")
    return causes


def _validate(value: Any, schema: Schema, path: str) -> Iterator[Cause]:
    if value is None:
        if schema.get("nullable"):
            return
        if "type" in schema:
            yield _cause(
                "FieldValueInvalid",
                path,
                f'Invalid value: "null": {path} in body must be of type {schema["type"]}: "null"',
            )
        return
    if not _matches_type(value, schema):
        expected = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        actual = _type_name(value)
        yield _cause(
            "FieldValueInvalid",
            path,
            f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"',
        )
        return
    for sub in schema.get("allOf") or []:
        yield from _validate(value, sub, path)
    options = schema.get("anyOf")
    if options and not any(_passes(value, option, path) for option in options):
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {_shown(value)}: {path} in body must validate at least one schema (anyOf)",
        )
    options = schema.get("oneOf")
    if options:
        valid = sum(_passes(value, option, path) for option in options)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {_shown(value)}: {path} in body must validate one and"
                f" only one schema (oneOf). {found}",
            )
    if isinstance(schema.get("not"), dict) and _passes(value, schema["not"], path):
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {_shown(value)}: {path} in body must not validate the schema (not)",
        )
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        yield _cause(
            "FieldValueNotSupported",
            path,
            f"Unsupported value: {_show(value)}: supported values: {supported}",
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield from _validate_number(value, schema, path)
    if isinstance(value, str):
        yield from _validate_string(value, schema, path)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield _cause(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {len(value)}: {path} in body should have at"
                f" least {schema['minItems']} items",
            )
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from _validate(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                yield _cause("FieldValueRequired", _join(path, key), "Required value")
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if not path and key in _ROOT_KEEP:
                continue
            if key in properties:
                yield from _validate(item, properties[key], _join(path, key))
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from _validate(item, schema["additionalProperties"], _join(path, key))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            yield _cause(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
            )


def _shown(value: Any) -> str:
    """A value as the anyOf/oneOf/not messages show it (only built when such a check fails)."""
    return f'"{_type_name(value)}"' if isinstance(value, dict | list) else _show(value)


def _passes(value: Any, option: Schema, path: str) -> bool:
    """Whether a value satisfies one alternative; stops at the first cause instead of collecting all."""
    return next(_validate(value, {"nullable": True, **option}, path), None) is None


def _validate_number(value: float, schema: Schema, path: str) -> Iterator[Cause]:
    shown = _show(value)
    if "minimum" in schema:
        bound = schema["minimum"]
        if schema.get("exclusiveMinimum") is True and value <= bound:
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should be greater than {bound}",
            )
        elif value < bound:
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should be greater than or equal to {bound}",
            )
    if "maximum" in schema:
        bound = schema["maximum"]
        if schema.get("exclusiveMaximum") is True and value >= bound:
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should be less than {bound}",
            )
        elif value > bound:
            yield _cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should be less than or equal to {bound}",
            )
    if "multipleOf" in schema and value % schema["multipleOf"]:
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {shown}: {path} in body should be a multiple of {schema['multipleOf']}",
        )


def _validate_string(value: str, schema: Schema, path: str) -> Iterator[Cause]:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield _cause("FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes")
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {_show(value)}: {path} in body should be at least"
            f" {schema['minLength']} chars long",
        )
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {_show(value)}: {path} in body should match '{schema['pattern']}'",
        )
    if schema.get("format") == "date-time" and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", value):
        yield _cause(
            "FieldValueInvalid",
            path,
            f"Invalid value: {_show(value)}: {path} in body must be of type date-time",
        )
