"""Label and field selectors, parsed and matched with the real API server's semantics.

kmock ignores ``labelSelector`` and ``fieldSelector``; controllers (kopf, the operator) and ``kubectl -l`` depend
on them, so the sandbox parses them here with the same grammar (``=``, ``==``, ``!=``, ``in``, ``notin``,
existence and ``!`` non-existence) and the same meaning (``!=`` and ``notin`` also match objects without the key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tensorone.sandbox.apiserver.errors import ApiError, bad_request

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_SET_OP = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_BIN_OP = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: ``key op values``."""

    key: str
    op: str  # one of: =, !=, in, notin, exists, !exists, <, >
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Say whether a label set satisfies this clause."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number < bound if self.op == "<" else number > bound


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _check_values(values: tuple[str, ...]) -> None:
    for value in values:
        if len(value) > 63 or not _VALUE.match(value):
            raise bad_request(
                f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label'
                " must be an empty string or consist of alphanumeric characters, '-', '_' or '.',"
                " and must start and end with an alphanumeric character"
            )


def _check_key(key: str, selector: str) -> None:
    if not _KEY.match(key):
        raise bad_request(
            f'unable to parse requirement: invalid label key "{key}": name part must consist of'
            " alphanumeric characters, '-', '_' or '.', and must start and end with an"
            f" alphanumeric character (selector: {selector!r})"
        )


def parse_label_selector(selector: str) -> list[Requirement]:
    """Parse a ``labelSelector`` string; raise a 400 ApiError for malformed input, as the server does."""
    requirements: list[Requirement] = []
    for clause in _split_top_level(selector):
        set_match = _SET_OP.match(clause)
        if set_match:
            key, op, raw_values = set_match.groups()
            _check_key(key, selector)
            values = tuple(v.strip() for v in raw_values.split(",") if v.strip())
            _check_values(values)
            requirements.append(Requirement(key, op, values))
            continue
        if clause.startswith("!"):
            key = clause[1:].strip()
            _check_key(key, selector)
            requirements.append(Requirement(key, "!exists"))
            continue
        bin_match = _BIN_OP.match(clause)
        if bin_match:
            key, op, value = bin_match.groups()
            _check_key(key, selector)
            op = "=" if op == "==" else op
            if op in ("=", "!="):
                _check_values((value,))
            if op in ("<", ">") and not value.lstrip("-").isdigit():
                raise bad_request(
                    f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be"
                    f" an integer: {value!r}"
                )
            requirements.append(Requirement(key, op, (value,)))
            continue
        if re.match(r"^[^\s=!<>(),]+$", clause):
            _check_key(clause, selector)
            requirements.append(Requirement(clause, "exists"))
            continue
        raise bad_request(
            f"unable to parse requirement: found '{clause}', expected: '=', '!=', '==', 'in', notin'"
        )
    return requirements


def match_labels(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Say whether all requirements hold for the given labels (an empty selector matches everything)."""
    actual = labels or {}
    return all(req.matches(actual) for req in requirements)


def selector_from_label_selector_object(selector: Mapping[str, Any]) -> list[Requirement]:
    """Convert a structured ``LabelSelector`` (matchLabels/matchExpressions) into requirements."""
    requirements = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists", "Gt": ">", "Lt": "<"}
    for expr in selector.get("matchExpressions") or []:
        requirements.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return requirements


# Field selectors: the real server supports only a few fields per resource and refuses others with 400.
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS_BY_RESOURCE: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "secrets": ("type",),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
}


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector: ``field=value`` or ``field!=value``."""

    field: str
    negate: bool
    value: str


def parse_field_selector(selector: str, plural: str, kind: str, api_version: str) -> list[FieldRequirement]:
    """Parse a ``fieldSelector``, refusing fields the real server does not index for this resource."""
    allowed = set(_COMMON_FIELDS) | set(_FIELDS_BY_RESOURCE.get(plural, ()))
    requirements: list[FieldRequirement] = []
    for clause in _split_top_level(selector):
        match = re.match(r"^([^=!]+)(==|=|!=)(.*)$", clause)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{clause}'")
        field, op, value = match.groups()
        field = field.strip()
        if field not in allowed:
            raise ApiError(400, "BadRequest", f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, op == "!=", value.strip()))
    return requirements


def _field_value(obj: Mapping[str, Any], field: str) -> str:
    if field == "source":
        return str((obj.get("source") or {}).get("component", ""))
    current: Any = obj
    for part in field.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def match_fields(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    """Say whether all field clauses hold for an object."""
    return all((_field_value(obj, r.field) == r.value) != r.negate for r in requirements)


def make_filter(
    label_selector: str | None, field_selector: str | None, plural: str, kind: str, api_version: str
) -> Callable[[Mapping[str, Any]], bool]:
    """Build one predicate for both selectors (parsing errors surface as 400 immediately)."""
    labels = parse_label_selector(label_selector) if label_selector else []
    fields = parse_field_selector(field_selector, plural, kind, api_version) if field_selector else []

    def predicate(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return match_labels(labels, meta.get("labels")) and match_fields(fields, obj)

    return predicate
