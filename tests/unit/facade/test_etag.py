"""Entity tags of the polled reads: ``If-None-Match`` as RFC 9110 compares it."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from tensorone.facade.etag import conditional_json


def request_with(if_none_match: str | None) -> Request:
    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


BODY = {"jobs": [{"id": "job_0123456789abcdef", "name": "ü"}], "pagination": {"total": 1}}


def tag_of(body: object) -> str:
    return conditional_json(request_with(None), body).headers["ETag"]


def test_the_tag_follows_the_body() -> None:
    assert tag_of(BODY) == tag_of(dict(BODY))
    assert tag_of(BODY) != tag_of({**BODY, "pagination": {"total": 2}})


@pytest.mark.parametrize(
    "header",
    ["{tag}", "W/{tag}", '"other", {tag}', "*"],
    ids=["exact", "weak", "in-a-list", "any"],
)
def test_a_matching_if_none_match_is_304_without_a_body(header: str) -> None:
    response = conditional_json(request_with(header.format(tag=tag_of(BODY))), BODY)
    assert response.status_code == 304
    assert response.body == b""
    assert response.headers["ETag"] == tag_of(BODY)


@pytest.mark.parametrize(
    "header", [None, "", '"stale"', 'W/"stale"'], ids=["none", "empty", "stale", "weak-stale"]
)
def test_anything_else_is_the_full_answer(header: str | None) -> None:
    response = conditional_json(request_with(header), BODY)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.body == conditional_json(request_with(None), BODY).body
