"""Why a worker failed, in words a person can act on (pure).

A failed worker's termination message is the trainer's own sentence when it wrote one (a bad config or data names
the field, file or line; user code that raised names the exception and line). Otherwise the kubelet puts the last
lines of the log there (``terminationMessagePolicy: FallbackToLogsOnError``): a traceback, launcher noise, the
trainer's own status reports. From those the cause is the exception line of the last traceback, or else the last
few lines that are not noise.
"""

from __future__ import annotations

import re

from tensorone.controller.pods import PodView

MAX_LINES = 5
MAX_CHARS = 1500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# An exception line ends a Python traceback: `ValueError: …`, `torch.distributed.DistNetworkError: …`.
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Failure)\b:?")
_NOISE = (
    re.compile(r"HTTP Request: "),  # an HTTP client's request log
    re.compile(r"^\s*$"),
    re.compile(r"^[=\-*]{8,}\s*$"),  # banner rules (torchrun's failure summary)
    re.compile(r"To enable traceback see"),
)


def _lines(text: str) -> list[str]:
    return [_ANSI.sub("", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]


def _bounded(lines: list[str]) -> str:
    text = "\n".join(lines[-MAX_LINES:])
    if len(text) <= MAX_CHARS:
        return text
    # Keep whole lines from the end: a message is never cut in the middle of a sentence.
    kept: list[str] = []
    for line in reversed(lines[-MAX_LINES:]):
        if sum(len(k) + 1 for k in kept) + len(line) > MAX_CHARS:
            break
        kept.insert(0, line)
    return "\n".join(kept) if kept else lines[-1][:MAX_CHARS].rsplit(" ", 1)[0] + " …"


def meaningful_lines(message: str) -> str:
    """The cause in ``message`` (a termination message or the tail of a log); empty when it holds none."""
    lines = [line for line in _lines(message) if not any(p.search(line) for p in _NOISE)]
    if not lines:
        return ""
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        causes = [line for line in lines if not line.startswith((" ", "\t")) and _EXCEPTION.match(line)]
        if causes:
            return _bounded([causes[-1]])
    return _bounded(lines)


def describe_worker_failure(pod: PodView) -> str:
    """``worker 0 (exit 1): <cause>``; without a cause just what ended it."""
    ended = pod.reason or (f"exit {pod.exit_code}" if pod.exit_code is not None else pod.phase)
    cause = meaningful_lines(pod.message)
    return f"worker {pod.index} ({ended}): {cause}" if cause else f"worker {pod.index}: {ended}"
