"""Text a person reads back in lists, terminals and dashboards (names, tags): no control or bidi characters.

A NUL cuts a name short in C tools; U+202E and its kin reorder what a terminal or browser shows, so a name can
display as something it is not. Such characters are refused, not stripped, so what is stored is what was sent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

# Bidirectional formatting characters (Unicode's Bidi_Control) and the line/paragraph separators.
_INVISIBLE_FORMATTING = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
# The CRD's form of the same rule (RE2, ECMA-262 and Python read it alike: escapes for C0/C1, the rest literal).
PLAIN_TEXT_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f" + _INVISIBLE_FORMATTING + "]*$"


def _is_forbidden(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in _INVISIBLE_FORMATTING


def check_plain_text(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` naming the first forbidden character by code point (never echoing it)."""
    for position, char in enumerate(value):
        if _is_forbidden(char):
            raise ValueError(
                f"must not contain control or bidirectional formatting characters "
                f"(U+{ord(char):04X} at position {position})"
            )
    return value


# A display name or a tag: 1-100 characters of plain text.
PlainName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": PLAIN_TEXT_PATTERN}),
    AfterValidator(check_plain_text),
]
