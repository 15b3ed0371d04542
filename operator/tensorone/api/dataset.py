"""The Dataset custom resource: a registered dataset a job trains on."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from tensorone.api.base import CamelModel, OpenCamelModel
from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH, DATASET_SOURCE_PATTERN, check_dataset_source
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
    source: Annotated[str, AfterValidator(check_dataset_source)] = Field(
        min_length=1,
        max_length=2048,
        description=f"A path on the account's data volume ({DATA_VOLUME_MOUNT_PATH}/...), or a URL the platform "
        "fetches before training: s3://bucket/key-or-prefix, hf://datasets/org/name[/path]@revision, https://host/file",
        json_schema_extra={"pattern": DATASET_SOURCE_PATTERN},
    )
    description: str = Field("", max_length=10_000)


class DatasetStatus(OpenCamelModel):
    phase: str | None = Field(None, description="Ready or Invalid")
    size_bytes: int | None = Field(None, ge=0, le=10**18)
    num_examples: int | None = Field(None, ge=0, le=10**12)
    message: str | None = None
