"""When the SDK retries (pure rules shared by the sync and async clients) and which exception an error raises."""

from __future__ import annotations

import pytest

from tensorone.api.errors import HTTP_STATUS, ErrorCode
from tensorone.sdk import errors
from tensorone.sdk.policy import MAX_BACKOFF, retry_delay


@pytest.mark.parametrize(
    ("idempotent", "status_code", "retry_after", "attempt", "expected"),
    [
        (False, 429, "2", 0, 2.0),
        (False, 429, None, 0, 0.25),
        (True, 429, "bogus", 2, 1.0),
        (True, 503, None, 1, 0.5),
        (True, None, None, 0, 0.25),
        (True, 500, "600", 0, MAX_BACKOFF),
        (True, 502, None, 3, None),
        (False, 500, None, 0, None),
        (False, None, None, 0, None),
        (True, 404, None, 0, None),
        (True, 409, "1", 0, None),
    ],
    ids=[
        "429-non-idempotent-after-retry-after", "429-backoff-without-header", "429-unreadable-header-backoff",
        "5xx-idempotent-backoff", "no-answer-idempotent", "retry-after-capped", "after-max-retries",
        "5xx-non-idempotent-final", "no-answer-non-idempotent-final", "4xx-final", "409-final-despite-header",
    ],
)  # fmt: skip
def test_retry_delay(
    idempotent: bool, status_code: int | None, retry_after: str | None, attempt: int, expected: float | None
) -> None:
    delay = retry_delay(
        attempt=attempt,
        max_retries=3,
        idempotent=idempotent,
        status_code=status_code,
        retry_after=retry_after,
    )
    assert delay == expected


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_api_error_code_raises_its_own_exception(code: ErrorCode) -> None:
    body = {"error": code.value, "message": "m", "details": {"k": "v"}}
    raised = errors.from_response(HTTP_STATUS[code], body)
    assert type(raised) is errors.ERRORS[code]
    assert type(raised) is not errors.TensorOneError
    assert (raised.error, raised.message, raised.details, raised.status_code) == (
        code.value, "m", {"k": "v"}, HTTP_STATUS[code],
    )  # fmt: skip
