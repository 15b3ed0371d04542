"""Graceful stop: SIGTERM asks the loop to finish its current step, checkpoint and exit 0.

Kubernetes sends SIGTERM when a job is suspended (stop) or a pod is evicted; the grace period is sized so that
one step and one checkpoint fit. The handler only sets a flag — the loop decides where it is safe to stop.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class StopRequest:
    """A flag set by SIGTERM (or by code, e.g. early stopping or a custom ``train``)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> None:
        """Route SIGTERM to this flag (main thread only, as Python requires)."""
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._event.is_set():
            log.warning(
                "received %s: finishing the current step, then checkpointing", signal.Signals(signum).name
            )
        self._event.set()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()
