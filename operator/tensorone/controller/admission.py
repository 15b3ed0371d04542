"""Admission of a new job (pure): is the spec valid, does its dataset exist, does any node offer its GPUs?

The handler fetches the dataset and the nodes; this module decides and fills the first status: estimates and
allocation when admitted, ``failed`` with ``Admitted=False`` (field and reason in the message) when not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tensorone.api.errors import ConfigurationError
from tensorone.api.resources import DatasetResource
from tensorone.api.spec import AnyJobSpec
from tensorone.api.status import (
    ConditionType,
    EstimatedCost,
    JobError,
    JobPhase,
    TrainingJobStatus,
)
from tensorone.catalog.estimator import DatasetSize, check_fits, estimate, resource_allocation
from tensorone.catalog.gpus import GPU_PRODUCT_LABEL, GPU_RESOURCE, GpuCatalog
from tensorone.controller.conditions import Reason, set_condition


@dataclass(frozen=True)
class NodeOffer:
    """One node's GPU product label and allocatable GPU count."""

    product: str | None
    gpus: int

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> NodeOffer:
        labels = (node.get("metadata") or {}).get("labels") or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        gpus = 0 if unschedulable else int(str(allocatable.get(GPU_RESOURCE, "0")))
        return cls(product=labels.get(GPU_PRODUCT_LABEL), gpus=gpus)


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    message: str
    field: str | None = None


def available_gpu_types(nodes: Sequence[NodeOffer], catalog: GpuCatalog) -> dict[str, int]:
    """GPU type → the most GPUs one node offers."""
    offered: dict[str, int] = {}
    for node in nodes:
        gpu_type = catalog.type_of_product(node.product) if node.product else None
        if gpu_type is not None and node.gpus > 0:
            offered[str(gpu_type)] = max(offered.get(str(gpu_type), 0), node.gpus)
    return offered


def check_admission(
    spec: AnyJobSpec, dataset: DatasetResource | None, nodes: Sequence[NodeOffer], catalog: GpuCatalog
) -> Refusal | None:
    """Why the job cannot run here (None: admitted)."""
    if dataset is None:
        return Refusal(
            Reason.DATASET_NOT_FOUND,
            f"dataset {spec.dataset_ref.name!r} does not exist",
            "spec.datasetRef.name",
        )
    try:
        check_fits(spec, catalog)
    except ConfigurationError as e:
        return Refusal(Reason.INVALID_SPEC, f"spec.{e.field}: {e.reason}", f"spec.{e.field}")
    gpu_type = str(catalog.resolve(spec.gpu_type))
    offered = available_gpu_types(nodes, catalog)
    if offered.get(gpu_type, 0) < spec.gpus_per_worker:
        available = ", ".join(f"{t} (up to {n} per node)" for t, n in sorted(offered.items())) or "none"
        return Refusal(
            Reason.INSUFFICIENT_RESOURCES,
            f"no node offers {spec.gpus_per_worker}× {gpu_type}; available GPU types: {available}",
            "spec.gpuType",
        )
    if spec.resume_from:
        return Refusal(
            Reason.CHECKPOINT_NOT_FOUND, f"checkpoint {spec.resume_from!r} does not exist", "spec.resumeFrom"
        )
    return None


def refused_status(
    status: TrainingJobStatus, refusal: Refusal, now: datetime, generation: int | None
) -> TrainingJobStatus:
    """``failed`` with ``Admitted=False``; no pods will be created."""
    result = status.model_copy(deep=True)
    result.phase = JobPhase.FAILED
    result.completed_at = now
    result.observed_generation = generation
    result.error = JobError(reason=str(refusal.reason), message=refusal.message)
    set_condition(result, ConditionType.ADMITTED, False, refusal.reason, refusal.message, now, generation)
    set_condition(result, ConditionType.FAILED, True, refusal.reason, refusal.message, now, generation)
    return result


def waiting_status(
    status: TrainingJobStatus, spec: AnyJobSpec, now: datetime, generation: int | None
) -> TrainingJobStatus:
    """``queued`` with ``Admitted=False`` saying which dataset the job waits for: applied together (``kubectl
    apply -f dir/``), a job may come before its Dataset; it starts once the Dataset appears."""
    result = status.model_copy(deep=True)
    result.phase = JobPhase.QUEUED
    result.observed_generation = generation
    message = f"waiting for Dataset {spec.dataset_ref.name!r}: it does not exist (yet) in this namespace"
    set_condition(result, ConditionType.ADMITTED, False, Reason.WAITING_FOR_DATASET, message, now, generation)
    return result


def checking_status(
    status: TrainingJobStatus,
    spec: AnyJobSpec,
    now: datetime,
    generation: int | None,
    progress: str | None = None,
) -> TrainingJobStatus:
    """``queued`` with ``Admitted=False`` while the initializer fetches and reads the data once before any worker
    starts; ``Initializing=True`` says how far it got (``progress``: files and bytes fetched so far)."""
    result = status.model_copy(deep=True)
    result.phase = JobPhase.QUEUED
    result.observed_generation = generation
    message = f"checking Dataset {spec.dataset_ref.name!r} before any worker starts"
    set_condition(result, ConditionType.ADMITTED, False, Reason.CHECKING_DATA, message, now, generation)
    reason = Reason.FETCHING if progress else Reason.CHECKING_DATA
    doing = (
        progress or "fetching the dataset and model (when given by URL or hub id) and checking the dataset"
    )
    set_condition(result, ConditionType.INITIALIZING, True, reason, doing, now, generation)
    return result


def initialized_status(
    status: TrainingJobStatus, ok: bool, message: str, now: datetime, generation: int | None
) -> TrainingJobStatus:
    """``Initializing=False``: done (what was fetched, from the cache or not), or failed (why)."""
    result = status.model_copy(deep=True)
    reason = Reason.INITIALIZED if ok else Reason.INITIALIZATION_FAILED
    set_condition(result, ConditionType.INITIALIZING, False, reason, message, now, generation)
    return result


def admitted_status(
    status: TrainingJobStatus,
    spec: AnyJobSpec,
    dataset: DatasetResource,
    catalog: GpuCatalog,
    now: datetime,
    generation: int | None,
) -> TrainingJobStatus:
    """``pending`` with estimates and allocation, and the first attempt started."""
    size = DatasetSize(size_bytes=dataset.status.size_bytes, num_examples=dataset.status.num_examples)
    guess = estimate(spec, catalog, size)
    gpu = catalog.gpu(spec.gpu_type)
    result = status.model_copy(deep=True)
    result.phase = JobPhase.PENDING
    result.observed_generation = generation
    result.attempts = 1
    result.resumed_from = None
    result.estimated_cost = EstimatedCost(hourly=guess.hourly, total=guess.total, currency=catalog.currency)
    result.estimated_duration_seconds = round(guess.duration_seconds, 1)
    result.estimated_completion = now + timedelta(seconds=guess.duration_seconds)
    result.resource_allocation = resource_allocation(spec, catalog)
    message = f"{spec.max_workers} worker(s) × {spec.gpus_per_worker} {gpu.display_name}"
    set_condition(result, ConditionType.ADMITTED, True, Reason.ADMITTED, message, now, generation)
    return result
