"""Kubernetes resource quantities (``500m``, ``4Gi``, ``2``) as floats, for capacity accounting."""

from __future__ import annotations

import re

_SUFFIXES = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_quantity(value: str | int | float) -> float:
    """Parse a quantity; raises ValueError for malformed input."""
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([a-zA-Z]*)\s*", value)
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"quantities must match the regular expression; got {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]
