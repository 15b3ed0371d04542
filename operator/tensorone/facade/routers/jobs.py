"""``/v2/training/jobs``: create (both shapes), list, get, stop, resume, delete, logs, checkpoints, events,
metrics history, artifact downloads."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from tensorone.api import names, rest
from tensorone.api.errors import ConfigurationError, ErrorCode
from tensorone.api.status import JobPhase
from tensorone.facade import artifacts, logs
from tensorone.facade.deps import FacadeDep, PrincipalDep
from tensorone.facade.errors import documented
from tensorone.facade.etag import conditional_json
from tensorone.facade.jobs import JobService, Order, SortKey, render
from tensorone.facade.kube import EVENTS
from tensorone.facade.models import CheckpointListResponse, EventListResponse, EventOut
from tensorone.facade.openapi import CREATE_EXAMPLES

router = APIRouter(prefix="/v2/training/jobs", tags=["training jobs"])


def job_service(facade: FacadeDep) -> JobService:
    return JobService(facade)


Jobs = Annotated[JobService, Depends(job_service)]
_NOT_FOUND = documented(ErrorCode.JOB_NOT_FOUND)
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` tag is still the answer's `ETag`"}
}
_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/CreateJobRequest"},
                        {"$ref": "#/components/schemas/CreateJobRequestCompact"},
                    ]
                },
                "examples": CREATE_EXAMPLES,
            }
        },
    }
}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ConfigurationError.single("body", f"not valid JSON: {e}") from e


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=rest.JobObject | rest.CompactCreateResponse,
    summary="Create a training job (shape A → job object, shape B → compact create response)",
    responses=documented(
        ErrorCode.DATASET_NOT_FOUND, ErrorCode.INSUFFICIENT_RESOURCES, ErrorCode.QUOTA_EXCEEDED
    ),
    openapi_extra=_CREATE_BODY,
)
async def create_job(
    request: Request, principal: PrincipalDep, jobs: Jobs
) -> rest.JobObject | rest.CompactCreateResponse:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ConfigurationError.single("body", "must be a JSON object")
    return await jobs.create(principal, body)


@router.get("", response_model=rest.JobListResponse, responses={**documented(), **_NOT_MODIFIED})
async def list_jobs(
    request: Request,
    principal: PrincipalDep,
    jobs: Jobs,
    status: Annotated[JobPhase | None, Query(description="Only jobs with this status")] = None,
    model_type: Annotated[rest.RestModelType | None, Query(alias="modelType")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=rest.MAX_OFFSET)] = 0,
    sort: SortKey = "created_at",
    order: Order = "desc",
) -> Response:
    # The page's items are serialized once per job version (the model is the documented response_model); a
    # 1,000-job account's page is answered without FastAPI's second validation pass.
    page = await jobs.list(
        principal,
        status=str(status) if status else None,
        model_type=str(model_type) if model_type else None,
        limit=limit,
        offset=offset,
        sort=sort,
        order=order,
    )
    return conditional_json(request, page)


@router.post(
    ":estimate",
    response_model=rest.JobEstimateResponse,
    summary="Estimate a job's cost and duration: the checks of create, nothing created",
    responses=documented(
        ErrorCode.DATASET_NOT_FOUND, ErrorCode.INSUFFICIENT_RESOURCES, ErrorCode.QUOTA_EXCEEDED
    ),
    openapi_extra=_CREATE_BODY,
)
async def estimate_job(request: Request, principal: PrincipalDep, jobs: Jobs) -> rest.JobEstimateResponse:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ConfigurationError.single("body", "must be a JSON object")
    return await jobs.estimate_job(principal, body)


@router.get("/{job_id}", response_model=rest.JobObject, responses={**_NOT_FOUND, **_NOT_MODIFIED})
async def get_job(request: Request, job_id: str, principal: PrincipalDep, jobs: Jobs) -> Response:
    job = render(await jobs.find(principal, job_id))
    return conditional_json(request, job.model_dump(mode="json", by_alias=True))


@router.post(
    "/{job_id}/stop",
    response_model=rest.JobObject,
    responses=documented(ErrorCode.JOB_NOT_FOUND, ErrorCode.INVALID_STATE),
)
async def stop_job(
    job_id: str,
    principal: PrincipalDep,
    jobs: Jobs,
    body: Annotated[rest.StopJobRequest | None, Body()] = None,
) -> rest.JobObject:
    return await jobs.stop(principal, job_id, body or rest.StopJobRequest())


@router.post(
    "/{job_id}/resume",
    response_model=rest.JobObject,
    responses=documented(ErrorCode.JOB_NOT_FOUND, ErrorCode.INVALID_STATE, ErrorCode.CHECKPOINT_NOT_FOUND),
)
async def resume_job(
    job_id: str,
    principal: PrincipalDep,
    jobs: Jobs,
    body: Annotated[rest.ResumeJobRequest | None, Body()] = None,
) -> rest.JobObject:
    return await jobs.resume(principal, job_id, body or rest.ResumeJobRequest())


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    response_model=None,
    responses=_NOT_FOUND,
)
async def delete_job(
    job_id: str,
    principal: PrincipalDep,
    jobs: Jobs,
    purge_checkpoints: Annotated[bool, Query(alias="purgeCheckpoints")] = False,
) -> Response:
    await jobs.delete(principal, job_id, purge_checkpoints)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{job_id}/logs",
    response_class=PlainTextResponse,
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_NOT_FOUND},
)
async def job_logs(
    job_id: str,
    principal: PrincipalDep,
    jobs: Jobs,
    facade: FacadeDep,
    worker: Annotated[int, Query(ge=0, le=31)] = 0,
    follow: bool = False,
    tail: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    attempt: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Only this attempt (default: every attempt kept)")
    ] = None,
) -> Response:
    job = await jobs.find(principal, job_id)
    if worker >= job.spec.max_workers:
        raise ConfigurationError.single(
            "worker", f"the job has {job.spec.max_workers} worker(s): 0..{job.spec.max_workers - 1}"
        )
    name, ns = job.metadata.name, principal.namespace
    if follow:
        stream = logs.follow_log(facade.kube, ns, name, worker, tail)
        return StreamingResponse(stream, media_type="text/plain; charset=utf-8")
    return PlainTextResponse(await logs.read_log(facade.kube, ns, name, worker, tail, attempt))


@router.get("/{job_id}/checkpoints", response_model=CheckpointListResponse, responses=_NOT_FOUND)
async def job_checkpoints(job_id: str, principal: PrincipalDep, jobs: Jobs) -> CheckpointListResponse:
    return CheckpointListResponse(checkpoints=render(await jobs.find(principal, job_id)).checkpoints)


@router.get("/{job_id}/events", response_model=EventListResponse, responses=_NOT_FOUND)
async def job_events(
    job_id: str, principal: PrincipalDep, jobs: Jobs, facade: FacadeDep
) -> EventListResponse:
    job = await jobs.find(principal, job_id)
    name = job.metadata.name
    events = []
    for event in await facade.store.raw(EVENTS, principal.namespace):
        involved = (event.get("involvedObject") or {}).get("name", "")
        if involved != name and not involved.startswith(names.worker_pod_prefix(name)):
            continue
        events.append(
            EventOut(
                type=str(event.get("type") or "Normal"),
                reason=str(event.get("reason") or ""),
                message=str(event.get("message") or ""),
                object=f"{(event.get('involvedObject') or {}).get('kind', '')}/{involved}",
                count=int(event.get("count") or 1),
                time=event.get("lastTimestamp")
                or event.get("eventTime")
                or (event.get("metadata") or {}).get("creationTimestamp"),
            )
        )
    events.sort(key=lambda e: (e.time is None, e.time))
    return EventListResponse(events=events)


@router.get(
    "/{job_id}/metrics",
    response_model=rest.MetricsHistoryResponse,
    response_model_exclude_none=True,
    responses={**_NOT_FOUND, **_NOT_MODIFIED},
)
async def job_metrics(request: Request, job_id: str, principal: PrincipalDep, jobs: Jobs) -> Response:
    job = await jobs.find(principal, job_id)
    points = [
        rest.MetricPointOut.model_validate(p.model_dump())
        for p in sorted(job.status.history, key=lambda p: (p.step, p.time))
    ]
    body = rest.MetricsHistoryResponse(points=points)
    return conditional_json(request, body.model_dump(mode="json", by_alias=True, exclude_none=True))


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=StreamingResponse,
    response_model=None,
    summary="Download an artifact of a finished job: a file as it is, a folder as a tar stream",
    responses={
        200: {
            "description": "The artifact (`application/octet-stream`) or its folder (`application/x-tar`)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **documented(ErrorCode.JOB_NOT_FOUND, ErrorCode.ARTIFACT_NOT_FOUND, ErrorCode.INVALID_STATE),
    },
)
async def download_artifact(
    job_id: str, name: str, principal: PrincipalDep, jobs: Jobs, facade: FacadeDep
) -> StreamingResponse:
    job = await jobs.find(principal, job_id)
    artifact = artifacts.listed_artifact(job, name)
    entry = artifacts.artifact_entry(artifact, principal.namespace, job.metadata.name)
    body = await artifacts.stream_artifact(
        facade.kube, facade.settings, principal.namespace, job, artifact, entry
    )
    filename = artifacts.download_filename(artifact, entry)
    media = "application/octet-stream" if artifact.kind == "file" else "application/x-tar"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(body, media_type=media, headers=headers)
