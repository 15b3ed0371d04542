"""Service endpoints: liveness, readiness (the cluster API answers) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from tensorone.facade.deps import FacadeDep
from tensorone.facade.metrics import render_metrics
from tensorone.facade.models import HealthResponse

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The cluster API does not answer"}},
)
async def readyz(facade: FacadeDep) -> HealthResponse | JSONResponse:
    try:
        await facade.kube.request("GET", "/version")
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return HealthResponse(status="ok")


@router.get(
    "/metrics",
    response_class=Response,
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(facade: FacadeDep) -> Response:
    body, content_type = render_metrics(facade.metrics)
    return Response(body, media_type=content_type)
