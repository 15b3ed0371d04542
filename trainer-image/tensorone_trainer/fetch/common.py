"""What every kind of source shares: retries, progress lines, the manifest, and putting a new copy in place."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tensorone.api.sources import MANIFEST_NAME, PROGRESS_PREFIX, FetchProgress

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 5
BACKOFF_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
PROGRESS_EVERY_SECONDS = 1.0


class TransientError(Exception):
    """A failure worth another try (network error, server error, throttling); ``cause`` says which, briefly."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def with_retries(
    action: Callable[[], T],
    on_give_up: Callable[[str], Exception],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``action()``, tried again on ``TransientError`` with exponential backoff (1, 2, 4, … s, at most
    ``RETRIES`` tries); any other error passes through at once (a missing source is not retried)."""
    delay = BACKOFF_SECONDS
    for attempt in range(1, RETRIES + 1):
        try:
            return action()
        except TransientError as e:
            if attempt == RETRIES:
                raise on_give_up(f"unreachable after {RETRIES} tries ({e.cause})") from None
            log.warning("try %d of %d failed (%s); trying again in %.0f s", attempt, RETRIES, e.cause, delay)
            sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)
    raise AssertionError("unreachable")


@dataclass
class Progress:
    """Counts files and bytes and prints a progress line (``PROGRESS_PREFIX`` + JSON) at most every second."""

    source: str
    total_files: int | None = None
    total_bytes: int | None = None
    files: int = 0
    fetched_bytes: int = 0
    _last: float = field(default=0.0)

    def add_bytes(self, n: int) -> None:
        self.fetched_bytes += n
        self._maybe_print()

    def file_done(self) -> None:
        self.files += 1
        self._maybe_print(force=True)

    def _maybe_print(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        line = FetchProgress(
            source=self.source, files=self.files, fetched_bytes=self.fetched_bytes,
            total_files=self.total_files, total_bytes=self.total_bytes,
        ).to_wire()  # fmt: skip
        sys.stdout.write(PROGRESS_PREFIX + json.dumps(line, sort_keys=True) + "\n")
        sys.stdout.flush()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete copy (None: no complete copy there)."""
    try:
        found: dict[str, Any] = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found


def files_intact(folder: Path, files: dict[str, int]) -> bool:
    """Every file of the manifest is there with its size (a copy someone damaged is fetched again)."""
    for name, size in files.items():
        try:
            if (folder / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def readable(folder: Path) -> None:
    """Workers run as the trainer's non-root user: every fetched file must be readable by it."""
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(0o644)


def staging_folder(target: Path) -> Path:
    """A fresh folder next to ``target`` to fetch into (same file system: the final rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def put_in_place(staging: Path, target: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last, then swap ``staging`` in as ``target`` (the old copy, if any, is removed).

    A worker that opened files of the old copy keeps reading them (a rename does not touch open files). Another
    initializer that finished the same source first wins: its copy is as good as ours.
    """
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
    readable(staging)
    old = target.parent / f"{target.name}.old-{os.getpid()}"
    if target.exists() or target.is_symlink():
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if read_manifest(target) is None:
            raise
        shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        shutil.rmtree(old)
