"""When to retry a request and when a wait is over: the rules both clients follow, without any I/O."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from typing import Any

from tensorone.sdk.models import FINISHED, TrainingJob

MAX_BACKOFF = 30.0
FIRST_BACKOFF = 0.25


def retry_delay(
    *, attempt: int, max_retries: int, idempotent: bool, status_code: int | None, retry_after: str | None
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` when the failure is final.

    ``status_code`` is ``None`` when no answer came (connection error, timeout). A 429 is always retried (the
    server did nothing); 5xx and no answer only for idempotent calls, since the server may have acted.
    The server's ``Retry-After`` wins over exponential backoff; both are capped at ``MAX_BACKOFF``.
    """
    if attempt >= max_retries:
        return None
    retryable = status_code == 429 or (idempotent and (status_code is None or status_code >= 500))
    if not retryable:
        return None
    delay = FIRST_BACKOFF * 2.0**attempt
    if retry_after:
        with contextlib.suppress(ValueError):
            delay = float(retry_after)
    return min(MAX_BACKOFF, max(0.0, delay))


class JobWait:
    """One ``jobs.wait``: whether a polled job ends it, whether it changed, and the deadline."""

    def __init__(self, job_id: str, until: Collection[str] | None, timeout: float | None):
        self.job_id = job_id
        self.targets = frozenset(until) if until else FINISHED
        self.timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._last: tuple[str, dict[str, Any], dict[str, Any]] | None = None

    def changed(self, job: TrainingJob) -> bool:
        """Whether ``job``'s status, progress or metrics differ from the previous poll (true the first time)."""
        seen = (job.status, job.progress.model_dump(), job.metrics.model_dump())
        changed = seen != self._last
        self._last = seen
        return changed

    def reached(self, job: TrainingJob) -> bool:
        return job.status in self.targets

    def check_deadline(self, job: TrainingJob) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise TimeoutError(f"job {self.job_id} is still {job.status} after {self.timeout} s")
