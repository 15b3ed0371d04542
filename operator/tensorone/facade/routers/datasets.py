"""``/v2/datasets``: register, list, get, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import TypeAdapter

from tensorone.api import rest
from tensorone.api.dataset import DatasetSpec
from tensorone.api.errors import ApiError, ErrorCode
from tensorone.api.ids import id_to_name, name_to_id, new_dataset_id
from tensorone.api.resources import DatasetResource, dataset_manifest
from tensorone.api.validation import validate_or_raise
from tensorone.facade.auth import Principal, ensure_namespace
from tensorone.facade.deps import FacadeDep, PrincipalDep
from tensorone.facade.errors import documented
from tensorone.facade.settings import ACCOUNT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from tensorone.facade.views import effective_status

router = APIRouter(prefix="/v2/datasets", tags=["datasets"])
_NOT_FOUND = documented(ErrorCode.DATASET_NOT_FOUND)
_DATASET_SPEC = TypeAdapter(DatasetSpec)


def dataset_object(dataset: DatasetResource) -> rest.DatasetObject:
    return rest.DatasetObject(
        id=name_to_id(dataset.metadata.name),
        name=dataset.spec.display_name,
        format=str(dataset.spec.format),
        source=dataset.spec.source,
        description=dataset.spec.description,
        status=dataset.status.phase,
        size_bytes=dataset.status.size_bytes,
        num_examples=dataset.status.num_examples,
        created_at=dataset.metadata.creation_timestamp,
    )


def _not_found(dataset_id: str) -> ApiError:
    return ApiError(ErrorCode.DATASET_NOT_FOUND, f"Dataset {dataset_id} not found", {"datasetId": dataset_id})


async def _find(facade: FacadeDep, principal: Principal, dataset_id: str) -> DatasetResource:
    name = id_to_name(dataset_id)
    dataset = (
        await facade.store.get_dataset(principal.namespace, name)
        if name and dataset_id.startswith("ds_")
        else None
    )
    if dataset is None:
        raise _not_found(dataset_id)
    return dataset


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=rest.DatasetObject,
    responses=documented(),
)
async def register_dataset(
    body: rest.CreateDatasetRequest, principal: PrincipalDep, facade: FacadeDep
) -> rest.DatasetObject:
    spec = validate_or_raise(
        _DATASET_SPEC,
        {
            "displayName": body.name,
            "format": body.format,
            "source": body.source,
            "description": body.description,
        },
        rename=lambda path: "name" if path == "displayName" else path,
    )
    name = id_to_name(new_dataset_id())
    assert name is not None
    ns = principal.namespace
    if ns not in facade.namespaces_ready:
        await ensure_namespace(facade.kube, ns)
        facade.namespaces_ready.add(ns)
    labels = {ACCOUNT_LABEL: principal.account, MANAGED_BY_LABEL: MANAGED_BY}
    return dataset_object(await facade.store.create_dataset(ns, dataset_manifest(name, ns, spec, labels)))


@router.get("", response_model=rest.DatasetListResponse, responses=documented())
async def list_datasets(
    principal: PrincipalDep,
    facade: FacadeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=rest.MAX_OFFSET)] = 0,
) -> rest.DatasetListResponse:
    datasets = sorted(
        await facade.store.list_datasets(principal.namespace),
        key=lambda d: (d.metadata.creation_timestamp is None, d.metadata.creation_timestamp, d.metadata.name),
        reverse=True,
    )
    page = datasets[offset : offset + limit]
    return rest.DatasetListResponse(
        datasets=[dataset_object(d) for d in page],
        pagination=rest.Pagination(
            total=len(datasets), limit=limit, offset=offset, has_more=offset + len(page) < len(datasets)
        ),
    )


@router.get("/{dataset_id}", response_model=rest.DatasetObject, responses=_NOT_FOUND)
async def get_dataset(dataset_id: str, principal: PrincipalDep, facade: FacadeDep) -> rest.DatasetObject:
    return dataset_object(await _find(facade, principal, dataset_id))


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    response_model=None,
    responses=documented(ErrorCode.DATASET_NOT_FOUND, ErrorCode.INVALID_STATE),
)
async def delete_dataset(dataset_id: str, principal: PrincipalDep, facade: FacadeDep) -> Response:
    dataset = await _find(facade, principal, dataset_id)
    users = [
        j
        for j in await facade.store.list_jobs(principal.namespace)
        if j.spec.dataset_ref.name == dataset.metadata.name
        and effective_status(j) in {"queued", "pending", "running", "stopping"}
    ]
    if users:
        raise ApiError(
            ErrorCode.INVALID_STATE,
            f"Dataset {dataset_id} is used by {len(users)} unfinished job(s)",
            {"status": "in-use", "datasetId": dataset_id},
        )
    if not await facade.store.delete_dataset(principal.namespace, dataset.metadata.name):
        raise _not_found(dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
