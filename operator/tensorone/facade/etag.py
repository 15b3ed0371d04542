"""Conditional GETs: an entity tag on the JSON reads clients poll (a job, the job list, the metrics history).

The tag is a hash of the body as sent, so it changes exactly when the answer does, including the parts that
depend on the moment of asking (``remainingTime``, ``estimatedCompletion``). A client that sends the tag back in
``If-None-Match`` gets ``304 Not Modified`` and no body: the dashboard polls every couple of seconds and most
answers are unchanged. ``Cache-Control: private, no-cache`` keeps shared caches from storing an account's jobs
and makes browsers ask again each time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

CACHE_CONTROL = "private, no-cache"


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    return any(candidate.strip().removeprefix("W/") == tag for candidate in if_none_match.split(","))


def conditional_json(request: Request, content: Any) -> Response:
    """``content`` as JSON with its ETag, or ``304`` when the client already holds that version."""
    response = JSONResponse(content)
    tag = entity_tag(bytes(response.body))
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response
