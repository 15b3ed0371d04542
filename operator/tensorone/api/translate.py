"""Translation between the REST shapes and the TrainingJob resource, both ways.

Requests: shape A and shape B become the same ``TrainingJobSpec`` for the same job; every refusal names the
field as the client sent it (``config.training.learning_rate`` in shape A, ``hyperparameters.learningRate`` in
shape B). Responses: a TrainingJob (spec + status) becomes the job object, its short form, or the compact
create response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import TypeAdapter

from tensorone.api import rest
from tensorone.api.data_paths import dataset_source_problem
from tensorone.api.dataset import DatasetFormat, DatasetSpec
from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode
from tensorone.api.ids import id_to_name, name_to_id, new_dataset_id
from tensorone.api.resources import MODEL_TYPE_TAGS, TrainingJobResource
from tensorone.api.spec import TRAINING_JOB_SPEC_ADAPTER, AnyJobSpec
from tensorone.api.status import JobPhase
from tensorone.api.validation import validate_or_raise

_SHAPE_A = TypeAdapter(rest.CreateJobRequest)
_SHAPE_B = TypeAdapter(rest.CreateJobRequestCompact)
MULTIMODAL_REASON = "multimodal training is not supported yet: the trainer runs causal-LM (llm), YOLO (vision) and custom jobs"


@dataclass(frozen=True)
class CreatePlan:
    """A validated create request: the spec to store and, for shape B with a URL, the dataset to register."""

    shape: Literal["A", "B"]
    spec: AnyJobSpec
    dataset_id: str
    ad_hoc_dataset: DatasetSpec | None = None


def is_compact_shape(body: Any) -> bool:
    """Shape B is recognised by any of its own top-level keys."""
    return isinstance(body, dict) and bool(rest.COMPACT_SHAPE_KEYS & body.keys())


def plan_create(body: Any) -> CreatePlan:
    """Validate a create request of either shape; raises ``ApiError`` (``ConfigurationError`` for bad fields)."""
    if is_compact_shape(body):
        return _plan_compact(body)
    return _plan_documented(body)


def _dataset_name(dataset_id: str) -> str:
    name = id_to_name(dataset_id)
    if name is None:
        raise ApiError(
            ErrorCode.DATASET_NOT_FOUND, f"Dataset {dataset_id} not found", {"datasetId": dataset_id}
        )
    return name


def _rename_with(table: list[tuple[str, str]]) -> Any:
    """A path renamer: the first matching spec-path prefix is replaced by the client's."""

    def rename(path: str) -> str:
        for spec_prefix, client_prefix in table:
            if (
                path == spec_prefix
                or path.startswith(spec_prefix + ".")
                or path.startswith(spec_prefix + "[")
            ):
                return client_prefix + path[len(spec_prefix) :]
        return path

    return rename


def _parse_spec(spec: dict[str, Any], rename: Any) -> AnyJobSpec:
    return validate_or_raise(
        TRAINING_JOB_SPEC_ADAPTER, spec, union_tags=MODEL_TYPE_TAGS, discriminator="modelType", rename=rename
    )


_SHAPE_A_PATHS = [("displayName", "name"), ("datasetRef.name", "datasetId"), ("datasetRef", "datasetId")]


def _plan_documented(body: Any) -> CreatePlan:
    request = validate_or_raise(_SHAPE_A, body)
    if request.model_type == rest.RestModelType.MULTIMODAL:
        raise ConfigurationError.single("modelType", MULTIMODAL_REASON)
    spec: dict[str, Any] = {
        "displayName": request.name,
        "description": request.description,
        "tags": request.tags,
        "modelType": str(request.model_type),
        "datasetRef": {"name": _dataset_name(request.dataset_id)},
        "config": request.config,
        "maxWorkers": request.max_workers,
        "priority": str(request.priority),
    }
    if request.gpu_type is not None:
        spec["gpuType"] = str(request.gpu_type)
    return CreatePlan("A", _parse_spec(spec, _rename_with(_SHAPE_A_PATHS)), request.dataset_id)


_COMPACT_MODEL_TYPES = {"language_model": "llm", "llm": "llm", "vision_model": "vision", "vision": "vision"}
_SHAPE_B_PATHS = [
    ("displayName", "name"),
    ("modelType", "modelConfig.modelType"),
    ("config.baseModel", "modelConfig.baseModel"),
    ("config.architecture", "modelConfig.baseModel"),
    ("config.weights", "modelConfig.baseModel"),
    ("config.customCode", "modelConfig.customCode"),
    ("config.training.learning_rate", "hyperparameters.learningRate"),
    ("config.training.batch_size", "hyperparameters.batchSize"),
    ("config.training.epochs", "hyperparameters.epochs"),
    ("config.training.optimizer", "hyperparameters.optimizer"),
    ("config", "modelConfig"),
    ("datasetRef.name", "datasetConfig.datasetId"),
    ("datasetRef", "datasetConfig.datasetId"),
    ("gpuType", "infrastructure.gpuType"),
    ("gpusPerWorker", "infrastructure.gpuCount"),
    ("resources.memory", "infrastructure.memory"),
    ("resources.storage", "infrastructure.storage"),
]
_YOLO_ARCHITECTURE = re.compile(r"^(yolov8|yolov5|yolo11)[nsmlx]?$")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {"B": "", "KB": "k", "MB": "M", "GB": "G", "TB": "T", "K": "k", "M": "M", "G": "G", "T": "T"}


def to_quantity(size: str) -> str:
    """``"32GB"`` → ``"32G"``; binary units (``100Gi``) are kept. Input already matched ``rest.Size``."""
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(f"not a size: {size!r}")
    number, unit = match.groups()
    return number + _SIZE_UNITS.get(unit, unit)


def _plan_compact(body: Any) -> CreatePlan:
    request = validate_or_raise(_SHAPE_B, body)
    model_type = _COMPACT_MODEL_TYPES.get(
        str(request.model_config_.model_type), str(request.model_config_.model_type)
    )
    if model_type == "multimodal":
        raise ConfigurationError.single("modelConfig.modelType", MULTIMODAL_REASON)
    dataset_id, ad_hoc = _compact_dataset(request)
    training: dict[str, Any] = {}
    hyper = request.hyperparameters
    for key, value in (
        ("learning_rate", hyper.learning_rate),
        ("batch_size", hyper.batch_size),
        ("epochs", hyper.epochs),
        ("optimizer", hyper.optimizer.lower() if hyper.optimizer else None),
    ):
        if value is not None:
            training[key] = value
    config: dict[str, Any] = {"training": training}
    base_model, custom_code = request.model_config_.base_model, request.model_config_.custom_code
    if model_type == "llm":
        if base_model is None:
            raise ConfigurationError.single("modelConfig.baseModel", "required for language models")
        config["baseModel"] = base_model
    elif model_type == "vision" and base_model is not None:
        config["architecture" if _YOLO_ARCHITECTURE.match(base_model) else "weights"] = base_model
    if custom_code is not None:
        config["customCode"] = custom_code
    infra = request.infrastructure
    spec: dict[str, Any] = {
        "displayName": request.name,
        "description": request.description,
        "modelType": model_type,
        "datasetRef": {"name": _dataset_name(dataset_id)},
        "config": config,
        "gpusPerWorker": infra.gpu_count,
    }
    if infra.gpu_type is not None:
        spec["gpuType"] = str(infra.gpu_type).replace("-", "")
    resources = {k: to_quantity(v) for k, v in (("memory", infra.memory), ("storage", infra.storage)) if v}
    if resources:
        spec["resources"] = resources
    return CreatePlan("B", _parse_spec(spec, _rename_with(_SHAPE_B_PATHS)), dataset_id, ad_hoc)


def _compact_dataset(request: rest.CreateJobRequestCompact) -> tuple[str, DatasetSpec | None]:
    config = request.dataset_config
    if (config.dataset_id is None) == (config.dataset_url is None):
        raise ConfigurationError.single("datasetConfig", "give either datasetId or datasetUrl")
    if config.dataset_id is not None:
        return config.dataset_id, None
    assert config.dataset_url is not None
    if config.format is None:
        raise ConfigurationError.single("datasetConfig.format", "required with datasetUrl")
    problem = dataset_source_problem(config.dataset_url)
    if problem:
        raise ConfigurationError.single("datasetConfig.datasetUrl", problem)
    spec = DatasetSpec(
        display_name=request.name, format=DatasetFormat(config.format), source=config.dataset_url
    )
    return new_dataset_id(), spec


# ---- responses ---------------------------------------------------------------------------------------------


def job_id(job: TrainingJobResource) -> str:
    return name_to_id(job.metadata.name)


def job_status(job: TrainingJobResource) -> str:
    """The REST status: the resource's ``queued`` (before admission, for kubectl) reads ``pending`` (API.md)."""
    return rest_status(job.status.phase or JobPhase.QUEUED)


def rest_status(phase: str) -> str:
    return str(JobPhase.PENDING) if phase == JobPhase.QUEUED else str(phase)


def _created_at(job: TrainingJobResource) -> datetime:
    return job.metadata.creation_timestamp or datetime.now(UTC)


def _estimated_completion(job: TrainingJobResource, now: datetime) -> datetime | None:
    if job.status.completed_at is not None:
        return job.status.completed_at
    progress = job.status.progress
    if job.status.phase == JobPhase.RUNNING and progress is not None and progress.remaining_time is not None:
        return now + timedelta(seconds=progress.remaining_time)
    return job.status.estimated_completion


def _progress(job: TrainingJobResource) -> rest.ProgressOut:
    """The trainer's progress (only the REST fields: the status also carries display strings for kubectl); before
    its first report, the epochs the config asks for (``totalEpochs``)."""
    progress = rest.ProgressOut()
    if job.status.progress is not None:
        progress = rest.ProgressOut.model_validate(
            job.status.progress.model_dump(include=set(rest.ProgressOut.model_fields))
        )
    if not progress.total_epochs:
        progress.total_epochs = job.spec.config.training.epochs
    return progress


def _metrics(job: TrainingJobResource) -> rest.MetricsOut:
    m = job.status.metrics
    if m is None:
        return rest.MetricsOut()
    return rest.MetricsOut(
        current_loss=m.current_loss,
        best_loss=m.best_loss,
        learning_rate=m.learning_rate,
        throughput=m.throughput,
        memory_usage=m.memory_usage,
    )


def job_summary(job: TrainingJobResource, now: datetime | None = None) -> rest.JobSummary:
    """The list item (short form)."""
    now = now or datetime.now(UTC)
    return rest.JobSummary(
        id=job_id(job),
        name=job.spec.display_name,
        status=job_status(job),
        model_type=str(job.spec.model_type),
        progress=_progress(job),
        metrics=_metrics(job),
        created_at=_created_at(job),
        started_at=job.status.started_at,
        estimated_completion=_estimated_completion(job, now),
    )


def _updated_at(job: TrainingJobResource) -> datetime:
    status = job.status
    moments = [_created_at(job), status.started_at, status.completed_at, status.last_report_time]
    moments.extend(c.last_transition_time for c in status.conditions)
    return max(m for m in moments if m is not None)


def job_object(job: TrainingJobResource, now: datetime | None = None) -> rest.JobObject:
    """The full job object of Get."""
    summary = job_summary(job, now)
    status = job.status
    allocation = status.resource_allocation
    usage = status.resource_usage
    return rest.JobObject(
        **summary.model_dump(),
        description=job.spec.description,
        tags=job.spec.tags,
        dataset_id=name_to_id(job.spec.dataset_ref.name),
        config=job.spec.config.model_dump(mode="json", by_alias=True, exclude_none=True),
        resource_allocation=(
            rest.ResourceAllocationOut(
                gpu_type=allocation.gpu_type,
                workers=allocation.workers,
                memory_per_worker=allocation.memory_per_worker,
            )
            if allocation
            else None
        ),
        resource_usage=(
            rest.ResourceUsageOut(gpu_hours=usage.gpu_hours, cost=usage.cost, efficiency=usage.efficiency)
            if usage
            else rest.ResourceUsageOut()
        ),
        estimated_cost=(
            rest.EstimatedCostOut(hourly=status.estimated_cost.hourly, total=status.estimated_cost.total)
            if status.estimated_cost
            else None
        ),
        checkpoints=[
            rest.CheckpointOut(
                id=c.id, epoch=c.epoch, step=c.step, loss=c.loss, created_at=c.created_at, size=c.size
            )
            for c in status.checkpoints
        ],
        artifacts=[rest.ArtifactOut.model_validate(a.model_dump()) for a in status.artifacts],
        optimizations=(
            rest.OptimizationsOut.model_validate(status.optimizations.model_dump())
            if status.optimizations
            else None
        ),
        updated_at=_updated_at(job),
        completed_at=status.completed_at,
        error=rest.JobErrorOut(reason=status.error.reason, message=status.error.message)
        if status.error
        else None,
    )


def compact_create_response(
    job: TrainingJobResource,
    *,
    duration_seconds: float,
    gpu_cost: float,
    storage_cost: float,
    start: datetime,
) -> rest.CompactCreateResponse:
    """The response to a shape-B create."""
    return rest.CompactCreateResponse(
        job_id=job_id(job),
        name=job.spec.display_name,
        # The seed's compact create response says "queued" (the only place the REST API does).
        status=str(JobPhase.QUEUED),
        estimated_start_time=start,
        estimated_duration=rest.human_duration(duration_seconds),
        estimated_cost=rest.CompactCost(
            gpu_cost=round(gpu_cost, 2),
            storage_cost=round(storage_cost, 2),
            total_cost=round(gpu_cost + storage_cost, 2),
        ),
        created_at=_created_at(job),
    )
