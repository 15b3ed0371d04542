"""Typed views of the custom resources as the API server returns them, and the one way to parse a spec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tensorone.api.dataset import DatasetSpec, DatasetStatus
from tensorone.api.spec import (
    API_GROUP,
    API_VERSION,
    DATASET_KIND,
    TRAINING_JOB_KIND,
    TRAINING_JOB_SPEC_ADAPTER,
    AnyJobSpec,
    ModelType,
    spec_to_wire,
)
from tensorone.api.status import TrainingJobStatus
from tensorone.api.validation import validate_or_raise

API_VERSION_STRING = f"{API_GROUP}/{API_VERSION}"
MODEL_TYPE_TAGS = frozenset(str(m) for m in ModelType)


class ObjectMeta(BaseModel):
    """The parts of ``metadata`` this project reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str
    namespace: str = "default"
    uid: str | None = None
    resource_version: str | None = Field(None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: datetime | None = Field(None, alias="creationTimestamp")
    deletion_timestamp: datetime | None = Field(None, alias="deletionTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def parse_training_job_spec(raw: Any) -> AnyJobSpec:
    """Parse a TrainingJob ``spec``; raises ``ConfigurationError`` with manifest paths (``spec.config…``)."""
    return validate_or_raise(
        TRAINING_JOB_SPEC_ADAPTER,
        raw,
        union_tags=MODEL_TYPE_TAGS,
        discriminator="modelType",
        rename=lambda path: f"spec.{path}" if path else "spec",
    )


class TrainingJobResource(BaseModel):
    """A TrainingJob as read from the API server: metadata, parsed spec, parsed status."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    metadata: ObjectMeta
    spec: AnyJobSpec
    status: TrainingJobStatus

    @classmethod
    def from_k8s(cls, obj: dict[str, Any]) -> TrainingJobResource:
        """Parse an API object; a bad spec raises ``ConfigurationError`` naming ``spec.…`` fields."""
        return cls(
            metadata=ObjectMeta.model_validate(obj.get("metadata", {})),
            spec=parse_training_job_spec(obj.get("spec")),
            status=TrainingJobStatus.model_validate(obj.get("status") or {}),
        )


class DatasetResource(BaseModel):
    metadata: ObjectMeta
    spec: DatasetSpec
    status: DatasetStatus

    @classmethod
    def from_k8s(cls, obj: dict[str, Any]) -> DatasetResource:
        spec = validate_or_raise(
            TypeAdapter(DatasetSpec), obj.get("spec"), rename=lambda path: f"spec.{path}" if path else "spec"
        )
        return cls(
            metadata=ObjectMeta.model_validate(obj.get("metadata", {})),
            spec=spec,
            status=DatasetStatus.model_validate(obj.get("status") or {}),
        )


def training_job_manifest(
    name: str, namespace: str, spec: AnyJobSpec, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The manifest to create a TrainingJob."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": API_VERSION_STRING,
        "kind": TRAINING_JOB_KIND,
        "metadata": metadata,
        "spec": spec_to_wire(spec),
    }


def dataset_manifest(
    name: str, namespace: str, spec: DatasetSpec, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The manifest to create a Dataset."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": API_VERSION_STRING,
        "kind": DATASET_KIND,
        "metadata": metadata,
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
