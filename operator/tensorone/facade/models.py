"""Response shapes of the facade's own service routes; the v2 API's shapes (jobs, datasets, checkpoints,
events) live in ``tensorone.api.rest``, where the SDK reads them too."""

from __future__ import annotations

from tensorone.api.rest import CheckpointListResponse, EventListResponse, EventOut, ResponseModel

__all__ = ["CheckpointListResponse", "EventListResponse", "EventOut", "HealthResponse"]


class HealthResponse(ResponseModel):
    status: str
