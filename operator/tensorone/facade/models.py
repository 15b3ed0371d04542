"""Response shapes the contract leaves to the facade (API.md "also expected by users"); the rest are in
``tensorone.api.rest``."""

from __future__ import annotations

from tensorone.api.rest import CheckpointOut, ResponseModel, Timestamp


class CheckpointListResponse(ResponseModel):
    checkpoints: list[CheckpointOut]


class EventOut(ResponseModel):
    type: str
    reason: str
    message: str
    object: str
    count: int = 1
    time: Timestamp | None = None


class EventListResponse(ResponseModel):
    events: list[EventOut]


class HealthResponse(ResponseModel):
    status: str
