"""What the job endpoints do, apart from HTTP: create (checks, then one write), list, stop, resume, delete.

Every read and write is scoped to the caller's namespace; a job of another account is simply not there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tensorone.api import rest
from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode, FieldProblem
from tensorone.api.ids import id_to_name, new_job_id
from tensorone.api.resources import TrainingJobResource, dataset_manifest, training_job_manifest
from tensorone.api.status import FINISHED_PHASES, RESUMABLE_PHASES, JobPhase
from tensorone.api.translate import (
    CreatePlan,
    compact_create_response,
    job_object,
    job_summary,
    plan_create,
)
from tensorone.catalog.estimator import DatasetSize, check_fits, estimate
from tensorone.facade.auth import Principal, ensure_namespace
from tensorone.facade.deps import Facade
from tensorone.facade.kube import KubeError
from tensorone.facade.settings import ACCOUNT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from tensorone.facade.store import JobSnapshot
from tensorone.facade.views import ACTIVE_PHASES, JobView, effective_status

ANNOTATION_STOP_REASON = "training.tensorone.ai/stop-reason"
ANNOTATION_PURGE_CHECKPOINTS = "training.tensorone.ai/purge-checkpoints"
MODEL_TYPE_LABEL = "training.tensorone.ai/model-type"
# What a client may not set: the platform assigns it.
READ_ONLY_FIELDS = (
    "id", "jobId", "status", "namespace", "owner", "account", "createdAt", "updatedAt", "startedAt",
    "completedAt", "progress", "metrics", "checkpoints", "resourceAllocation", "resourceUsage",
    "estimatedCost", "estimatedCompletion", "error", "suspend", "resumeFrom", "metadata", "spec",
)  # fmt: skip
SortKey = Literal["created_at", "updated_at", "name"]
Order = Literal["asc", "desc"]


def render(job: TrainingJobResource) -> rest.JobObject:
    return job_object(job).model_copy(update={"status": effective_status(job)})


def summary_json(view: JobView) -> dict[str, Any]:
    """The list item as JSON, kept on the view unless it depends on when it is asked for (an estimated
    completion counted from now does): rendered at two moments a day apart, equal means it does not."""
    if view.summary is not None:
        return view.summary
    now = datetime.now(UTC)
    item = _summary_dump(view, now)
    if item == _summary_dump(view, now + timedelta(days=1)):
        view.summary = item
    return item


def _summary_dump(view: JobView, now: datetime) -> dict[str, Any]:
    summary = job_summary(view.job, now).model_copy(update={"status": view.status})
    return summary.model_dump(mode="json", by_alias=True)


def refuse_read_only(body: Any, fields: tuple[str, ...] = READ_ONLY_FIELDS) -> None:
    """Mass assignment: a field the platform sets is refused by name, never silently dropped."""
    if not isinstance(body, dict):
        return
    problems = [
        FieldProblem(f, "read-only: set by the platform, not by clients") for f in fields if f in body
    ]
    if problems:
        raise ConfigurationError(problems)


def job_name(job_id: str) -> str:
    name = id_to_name(job_id)
    if name is None or not job_id.startswith("job_"):
        raise ApiError(ErrorCode.JOB_NOT_FOUND, f"Training job {job_id} not found", {"jobId": job_id})
    return name


def select(
    snapshot: JobSnapshot,
    *,
    status: str | None,
    model_type: str | None,
    sort: SortKey,
    order: Order,
) -> list[JobView]:
    """Filter and sort (ties broken by id, so pages never overlap)."""
    return [
        v
        for v in snapshot.ordered(sort, order == "desc")
        if (status is None or v.status == status) and (model_type is None or v.model_type == model_type)
    ]


class JobService:
    """The job operations of one facade."""

    def __init__(self, facade: Facade):
        self.facade = facade
        self.store = facade.store

    async def find(self, principal: Principal, job_id: str) -> TrainingJobResource:
        # One job is read from the API server, not the mirror: what the operator, the trainer or kubectl just
        # wrote shows at once (List answers from the mirror, a watch event behind at most).
        name = job_name(job_id)
        job = await self.store.read_job(principal.namespace, name)
        if job is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND, f"Training job {job_id} not found", {"jobId": job_id})
        return job

    async def create(self, principal: Principal, body: Any) -> rest.JobObject | rest.CompactCreateResponse:
        plan, size = await self.admit(principal, body)
        spec = plan.spec
        ns = principal.namespace
        await self._ensure_namespace(ns)
        labels = {ACCOUNT_LABEL: principal.account, MANAGED_BY_LABEL: MANAGED_BY}
        if plan.ad_hoc_dataset is not None:
            name = id_to_name(plan.dataset_id)
            assert name is not None
            await self.store.create_dataset(ns, dataset_manifest(name, ns, plan.ad_hoc_dataset, labels))
        try:
            job = await self._create_with_fresh_id(
                ns, spec, {**labels, MODEL_TYPE_LABEL: str(spec.model_type)}
            )
        except Exception:
            if plan.ad_hoc_dataset is not None:  # nothing is created when a request is refused
                await self.store.delete_dataset(ns, id_to_name(plan.dataset_id) or "")
            raise
        if plan.shape == "A":
            return render(job)
        guess = estimate(spec, self.facade.catalog, size)
        return compact_create_response(
            job,
            duration_seconds=guess.duration_seconds,
            gpu_cost=guess.gpu_cost,
            storage_cost=guess.storage_cost,
            start=datetime.now(UTC),
        )

    async def admit(self, principal: Principal, body: Any) -> tuple[CreatePlan, DatasetSize]:
        """Every check of create, in its order: the validated plan and what is known of its dataset's size."""
        refuse_read_only(body)
        plan = plan_create(body)
        spec = plan.spec
        size = DatasetSize()
        if plan.ad_hoc_dataset is None:
            dataset = await self.store.get_dataset(principal.namespace, id_to_name(plan.dataset_id) or "")
            if dataset is None:
                raise ApiError(
                    ErrorCode.DATASET_NOT_FOUND,
                    f"Dataset {plan.dataset_id} not found",
                    {"datasetId": plan.dataset_id},
                )
            size = DatasetSize(dataset.status.size_bytes, dataset.status.num_examples)
        try:
            check_fits(spec, self.facade.catalog)
        except ConfigurationError as e:
            if plan.shape == "B" and e.field == "gpuType":
                raise ConfigurationError.single("infrastructure.gpuType", e.reason) from e
            raise
        await self._check_offered(plan.shape, spec.gpu_type, spec.gpus_per_worker)
        await self._check_quota(principal, spec.gpus_per_worker * spec.max_workers)
        return plan, size

    async def estimate_job(self, principal: Principal, body: Any) -> rest.JobEstimateResponse:
        """What creating ``body`` would cost and take, after exactly the checks of create; creates nothing."""
        plan, size = await self.admit(principal, body)
        spec, catalog = plan.spec, self.facade.catalog
        guess = estimate(spec, catalog, size)
        return rest.JobEstimateResponse(
            gpu_type=catalog.gpu(guess.gpu_type).display_name,
            workers=spec.max_workers,
            gpus_per_worker=spec.gpus_per_worker,
            estimated_duration=rest.human_duration(guess.duration_seconds),
            estimated_duration_seconds=round(guess.duration_seconds, 1),
            estimated_cost=rest.EstimateCostOut(
                hourly=guess.hourly, total=guess.total, storage=guess.storage_cost, currency=catalog.currency
            ),
            assumptions=guess.assumptions,
        )

    async def _create_with_fresh_id(self, ns: str, spec: Any, labels: dict[str, str]) -> TrainingJobResource:
        for _ in range(3):
            name = id_to_name(new_job_id())
            assert name is not None
            try:
                return await self.store.create_job(ns, training_job_manifest(name, ns, spec, labels))
            except KubeError as e:
                if e.status != 409:
                    raise
        raise ApiError(ErrorCode.INTERNAL_ERROR, "Could not allocate a job id")

    async def _ensure_namespace(self, ns: str) -> None:
        if ns not in self.facade.namespaces_ready:
            await ensure_namespace(self.facade.kube, ns)
            self.facade.namespaces_ready.add(ns)

    async def _check_offered(self, shape: str, gpu_type: str | None, gpus_per_worker: int) -> None:
        requested = str(self.facade.catalog.resolve(gpu_type))
        offer = await self.store.gpu_offer()
        most = offer.max_per_node.get(requested, 0)
        if most >= gpus_per_worker:
            return
        if most == 0:
            message = f"No node in this cluster offers {requested} GPUs"
        else:
            count_field = "infrastructure.gpuCount" if shape == "B" else "gpusPerWorker"
            message = (
                f"{gpus_per_worker} {requested} GPUs per worker requested ({count_field}); "
                f"the largest node has {most}"
            )
        raise ApiError(
            ErrorCode.INSUFFICIENT_RESOURCES,
            message,
            {
                "requestedGpuType": requested,
                "availableGpuTypes": offer.types,
                "requestedGpusPerWorker": gpus_per_worker,
            },
        )

    async def _check_quota(self, principal: Principal, gpus: int) -> None:
        settings = self.facade.settings
        finished = {str(p) for p in FINISHED_PHASES}
        active = [
            v for v in (await self.store.job_snapshot(principal.namespace)).views if v.status not in finished
        ]
        if len(active) + 1 > settings.max_active_jobs:
            raise ApiError(
                ErrorCode.QUOTA_EXCEEDED,
                f"This account already has {len(active)} unfinished jobs (limit {settings.max_active_jobs})",
                {"resource": "jobs", "limit": settings.max_active_jobs, "current": len(active)},
            )
        in_use = sum(v.gpus for v in active)
        if in_use + gpus > settings.max_active_gpus:
            raise ApiError(
                ErrorCode.QUOTA_EXCEEDED,
                f"This job needs {gpus} GPUs; the account's unfinished jobs hold {in_use} "
                f"(limit {settings.max_active_gpus})",
                {"resource": "gpus", "limit": settings.max_active_gpus, "current": in_use, "requested": gpus},
            )

    async def stop(self, principal: Principal, job_id: str, request: rest.StopJobRequest) -> rest.JobObject:
        job = await self.find(principal, job_id)
        status = effective_status(job)
        if status == JobPhase.STOPPING:
            return render(job)
        if status not in {str(p) for p in ACTIVE_PHASES}:
            raise ApiError(ErrorCode.INVALID_STATE, f"A {status} job cannot be stopped", {"status": status})
        patch: dict[str, Any] = {"spec": {"suspend": True, "saveCheckpointOnStop": request.save_checkpoint}}
        if request.reason:
            patch["metadata"] = {"annotations": {ANNOTATION_STOP_REASON: request.reason}}
        return render(await self.store.patch_job(principal.namespace, job.metadata.name, patch))

    async def resume(
        self, principal: Principal, job_id: str, request: rest.ResumeJobRequest
    ) -> rest.JobObject:
        job = await self.find(principal, job_id)
        status = effective_status(job)
        checkpoints = {c.id: c for c in job.status.checkpoints}
        resumable = status in {str(p) for p in RESUMABLE_PHASES}
        if resumable and request.checkpoint_id is not None and request.checkpoint_id not in checkpoints:
            raise ApiError(
                ErrorCode.CHECKPOINT_NOT_FOUND,
                f"Job {job_id} has no checkpoint {request.checkpoint_id}",
                {"checkpointId": request.checkpoint_id, "jobId": job_id},
            )
        if status not in {str(p) for p in RESUMABLE_PHASES}:
            raise ApiError(ErrorCode.INVALID_STATE, f"A {status} job cannot be resumed", {"status": status})
        if not checkpoints:
            raise ApiError(
                ErrorCode.INVALID_STATE,
                f"The {status} job has no checkpoint to resume from",
                {"status": status},
            )
        chosen = request.checkpoint_id or max(job.status.checkpoints, key=lambda c: (c.step, c.created_at)).id
        patch = {"spec": {"suspend": False, "resumeFrom": chosen}}
        return render(await self.store.patch_job(principal.namespace, job.metadata.name, patch))

    async def delete(self, principal: Principal, job_id: str, purge_checkpoints: bool) -> None:
        job = await self.find(principal, job_id)
        ns, name = principal.namespace, job.metadata.name
        patch: dict[str, Any] = {}
        if purge_checkpoints:
            patch["metadata"] = {"annotations": {ANNOTATION_PURGE_CHECKPOINTS: "true"}}
        if effective_status(job) in {str(p) for p in ACTIVE_PHASES}:
            patch["spec"] = {"suspend": True, "saveCheckpointOnStop": False}
        if patch:
            await self.store.patch_job(ns, name, patch)
        try:
            await self.store.delete_job(ns, name)
        except KubeError as e:
            if e.status != 404:
                raise

    async def list(
        self,
        principal: Principal,
        *,
        status: str | None,
        model_type: str | None,
        limit: int,
        offset: int,
        sort: SortKey,
        order: Order,
    ) -> dict[str, Any]:
        """A page of the caller's jobs: the JSON body of ``rest.JobListResponse``."""
        jobs = select(
            await self.store.job_snapshot(principal.namespace),
            status=status,
            model_type=model_type,
            sort=sort,
            order=order,
        )
        page = jobs[offset : offset + limit]
        pagination = rest.Pagination(
            total=len(jobs), limit=limit, offset=offset, has_more=offset + len(page) < len(jobs)
        )
        return {
            "jobs": [summary_json(v) for v in page],
            "pagination": pagination.model_dump(mode="json", by_alias=True),
        }
