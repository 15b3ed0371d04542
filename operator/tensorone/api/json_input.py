"""Parsing a request body as strict JSON (RFC 8259) with limits, before any model sees it.

Python's ``json`` accepts ``NaN``/``Infinity`` (and turns ``1e999`` into infinity), keeps the last of duplicate
keys silently and recurses once per nesting level (a 20,000-deep body raised ``RecursionError``). Here every one
of those is a ``ConfigurationError`` naming where it is: duplicate keys and non-finite numbers by their path,
depth and size limits as ``body``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from tensorone.api.errors import ConfigurationError
from tensorone.api.validation import dotted

MAX_DEPTH = 32
MAX_KEYS_PER_OBJECT = 1_000
MAX_KEYS_TOTAL = 10_000
# Digits of the longest integer literal accepted: every integer of the contract fits in 64 bits (19 digits).
MAX_INTEGER_DIGITS = 20

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


class _NonFinite:
    """Stands in for ``NaN``, ``Infinity`` or an overflowing literal until its path is known."""

    __slots__ = ()


class _TooLong:
    """Stands in for an integer literal of more than ``MAX_INTEGER_DIGITS`` digits until its path is known."""

    __slots__ = ()


class _DuplicateKeys(dict[str, Any]):
    __slots__ = ("duplicate",)

    duplicate: str


_NON_FINITE = _NonFinite()
_TOO_LONG = _TooLong()


class _Parse:
    """The hooks of one parse: they count keys and note whether anything needs locating afterwards."""

    def __init__(self) -> None:
        self.keys = 0
        self.suspect = False

    def parse_int(self, text: str) -> int | _TooLong:
        if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS:
            return int(text)
        self.suspect = True
        return _TOO_LONG

    def parse_float(self, text: str) -> float | _NonFinite:
        value = float(text)
        if math.isfinite(value):
            return value
        self.suspect = True
        return _NON_FINITE

    def parse_constant(self, _: str) -> _NonFinite:
        self.suspect = True
        return _NON_FINITE

    def parse_object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len(pairs) > MAX_KEYS_PER_OBJECT:
            raise ConfigurationError.single("body", f"an object has more than {MAX_KEYS_PER_OBJECT} keys")
        self.keys += len(pairs)
        if self.keys > MAX_KEYS_TOTAL:
            raise ConfigurationError.single("body", f"more than {MAX_KEYS_TOTAL} keys in all")
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        self.suspect = True
        marked = _DuplicateKeys(result)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.duplicate = key
                break
            seen.add(key)
        return marked


def _depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (checked before the recursive parser runs)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep (most bodies): no scan
    depth = 0
    for byte in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _locate(value: Any) -> None:
    """Raise for the first non-finite number, overlong integer or duplicate key, by its path (only run when the
    parse saw one)."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _NonFinite):
            raise ConfigurationError.single(
                dotted(path) or "body", "must be a finite number (NaN and Infinity are not allowed)"
            )
        if isinstance(node, _TooLong):
            reason = f"integer too large (more than {MAX_INTEGER_DIGITS} digits)"
            raise ConfigurationError.single(dotted(path) or "body", reason)
        if isinstance(node, _DuplicateKeys):
            raise ConfigurationError.single(dotted((*path, node.duplicate)), "duplicate key in a JSON object")
        if isinstance(node, dict):
            stack.extend(((*path, key), child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, index), child) for index, child in enumerate(node))


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of ``raw``; ``ConfigurationError`` for invalid JSON or anything past the limits."""
    data = raw.encode() if isinstance(raw, str) else raw
    if _depth_exceeds(data, MAX_DEPTH):
        raise ConfigurationError.single("body", f"JSON nested deeper than {MAX_DEPTH} levels")
    hooks = _Parse()
    try:
        value = json.loads(
            data,
            object_pairs_hook=hooks.parse_object,
            parse_float=hooks.parse_float,
            parse_int=hooks.parse_int,
            parse_constant=hooks.parse_constant,
        )
    except json.JSONDecodeError as e:
        # Its message says where (line, column) and what was expected, never the text found there.
        reason = f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        raise ConfigurationError.single("body", reason) from e
    except ValueError as e:  # undecodable bytes
        raise ConfigurationError.single("body", "not valid JSON (UTF-8 expected)") from e
    if hooks.suspect:
        _locate(value)
    return value
