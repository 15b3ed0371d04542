"""Request bodies are strict JSON within limits; every refusal names where (the field, or ``body``)."""

from __future__ import annotations

import json

import pytest

from tensorone.api.errors import ConfigurationError
from tensorone.api.json_input import MAX_DEPTH, MAX_KEYS_PER_OBJECT, MAX_KEYS_TOTAL, parse_json

REFUSED = [
    pytest.param('{"a": NaN}', "a", "finite", id="nan"),
    pytest.param('{"a": {"b": [1, Infinity]}}', "a.b[1]", "finite", id="infinity-in-a-list"),
    pytest.param('{"a": -Infinity}', "a", "finite", id="minus-infinity"),
    pytest.param('{"a": 1e999}', "a", "finite", id="float-overflowing-to-infinity"),
    pytest.param('{"a": ' + "9" * 21 + "}", "a", "too large", id="integer-of-21-digits"),
    pytest.param('{"a": {"b": 1, "c": 2, "b": 1}}', "a.b", "duplicate", id="duplicate-key"),
    pytest.param("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "body", "deeper", id="too-deep"),
    pytest.param("[" * 20_000 + "]" * 20_000, "body", "deeper", id="20000-deep"),
    pytest.param(json.dumps({f"k{i}": 0 for i in range(MAX_KEYS_PER_OBJECT + 1)}), "body", "keys", id="wide"),
    pytest.param(
        json.dumps([{f"k{i}": 0 for i in range(500)} for _ in range(MAX_KEYS_TOTAL // 500 + 1)]),
        "body",
        "keys",
        id="many-keys-in-all",
    ),
    pytest.param("{bad", "body", "line 1 column 2", id="not-json"),
    pytest.param(b"\xff\xfe\xfa", "body", "UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("raw", "field", "says"), REFUSED)
def test_refusals_name_where(raw: str | bytes, field: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_json(raw)
    assert refused.value.field == field
    assert says in refused.value.reason


ACCEPTED = [
    pytest.param("[" * MAX_DEPTH + "]" * MAX_DEPTH, id="at-max-depth"),
    pytest.param('{"text": "' + "[" * 10_000 + '"}', id="brackets-inside-strings-are-text"),
    pytest.param('{"q": "a \\" [[[[ \\\\"}', id="escaped-quotes"),
    pytest.param('{"n": ' + "9" * 20 + ", " + '"f": 1.5e300, "neg": -3}', id="big-but-finite-numbers"),
]


@pytest.mark.parametrize("raw", ACCEPTED)
def test_strict_json_within_limits_parses_as_json_does(raw: str) -> None:
    assert parse_json(raw) == json.loads(raw)


def test_a_refusal_never_quotes_the_body() -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_json('{"a": "SECRET-TEXT" oops}')
    assert "SECRET" not in str(refused.value)
