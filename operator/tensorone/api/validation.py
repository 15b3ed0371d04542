"""Turn pydantic validation errors into one ``ConfigurationError`` naming fields as the client wrote them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from tensorone.api.errors import ConfigurationError, FieldProblem

T = TypeVar("T")
Loc = tuple[int | str, ...]

_REASONS = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "union_tag_not_found": "required field is missing",
}


def dotted(loc: Sequence[int | str]) -> str:
    """``("config", "input_size", 0)`` → ``config.input_size[0]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind in _REASONS:
        return _REASONS[kind]
    message = str(error["msg"])
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"must be one of {expected}"
    return message.removeprefix("Value error, ").replace("Input should be", "must be")


def problems_from(
    error: ValidationError,
    *,
    union_tags: frozenset[str] = frozenset(),
    discriminator: str = "",
    prefix: Loc = (),
) -> list[FieldProblem]:
    """Field problems of ``error``; ``union_tags`` are dropped from the front of locations (union members)."""
    problems = []
    for item in error.errors():
        loc: Loc = tuple(item["loc"])
        if loc and isinstance(loc[0], str) and loc[0] in union_tags:
            loc = loc[1:]
        if item["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            loc = (*loc, discriminator)
        problems.append(FieldProblem(dotted(prefix + loc), _reason(item)))
    return problems


def validate_or_raise(
    adapter: TypeAdapter[T],
    data: Any,
    *,
    union_tags: frozenset[str] = frozenset(),
    discriminator: str = "",
    rename: Callable[[str], str] = lambda path: path,
) -> T:
    """Validate JSON-like ``data`` strictly, as a JSON API would (``"yes"`` is no boolean, ``"3"`` no integer).

    On failure raise ``ConfigurationError`` with every problem, paths passed through ``rename``.
    """
    try:
        return adapter.validate_json(json.dumps(data), strict=True)
    except ValidationError as e:
        problems = problems_from(e, union_tags=union_tags, discriminator=discriminator)
        raise ConfigurationError([FieldProblem(rename(p.field), p.reason) for p in problems]) from e
