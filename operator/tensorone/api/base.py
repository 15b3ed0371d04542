"""Base classes of the contract's models: strict (unknown fields refused) and camelCase on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StrictModel(BaseModel):
    """A model whose wire names are its declared aliases (or its attribute names) and that refuses extras."""

    # NaN and ±Infinity are refused everywhere: JSON has no such numbers, and a bound cannot hold them in.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_assignment=False, allow_inf_nan=False
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with wire names, ``None`` values left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class CamelModel(StrictModel):
    """A strict model whose attributes are snake_case in Python and camelCase on the wire."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        serialize_by_alias=True,
        allow_inf_nan=False,
    )


class OpenCamelModel(BaseModel):
    """A camelCase model that ignores unknown fields: for objects other components may extend (status)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, alias_generator=to_camel)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
