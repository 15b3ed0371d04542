"""The Dataset custom resource: a registered dataset a job trains on."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tensorone.api.base import CamelModel, OpenCamelModel
from tensorone.api.spec import DisplayName


class DatasetFormat(StrEnum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    YOLO = "yolo"


class DatasetSpec(CamelModel):
    """Where the data is and how it is laid out."""

    display_name: DisplayName
    format: DatasetFormat
    source: str = Field(
        min_length=1,
        max_length=2048,
        description="A URL (https://, s3://, gs://, hf://) or an absolute path on the cluster's dataset volume",
        pattern=r"^(/|[a-z][a-z0-9+.-]*://)",
    )
    description: str = Field("", max_length=10_000)


class DatasetStatus(OpenCamelModel):
    phase: str | None = Field(None, description="Ready or Invalid")
    size_bytes: int | None = Field(None, ge=0)
    num_examples: int | None = Field(None, ge=0)
    message: str | None = None
