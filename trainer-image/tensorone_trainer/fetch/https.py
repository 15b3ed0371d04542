"""``https://host/path/file``: one file, with httpx.

The copy is kept with its size, SHA-256 and the server's ETag/Last-Modified: the next job asks the server whether
the file changed (a conditional request) and downloads nothing when it did not.
"""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tensorone.api.source_urls import HttpsSource
from tensorone.api.sources import FetchSummary
from tensorone_trainer.fetch.common import (
    Progress,
    TransientError,
    files_intact,
    put_in_place,
    read_manifest,
    staging_folder,
    with_retries,
)
from tensorone_trainer.fetch.errors import (
    SourceDeniedError,
    SourceInvalidError,
    SourceNotFoundError,
    SourceUnreachableError,
)

_TIMEOUT = httpx.Timeout(30.0, read=120.0)


def _fail_on(response: httpx.Response, field: str, shown: str) -> None:
    code = response.status_code
    if code in (404, 410):
        raise SourceNotFoundError(field, shown, f"not found (HTTP {code})")
    if code in (401, 403):
        raise SourceDeniedError(field, shown, f"access denied (HTTP {code})")
    if code == 429 or code >= 500:
        raise TransientError(f"HTTP {code}")
    if code >= 400:
        raise SourceInvalidError(field, shown, f"the server refused the request (HTTP {code})")


def fetch_https(source: HttpsSource, text: str, shown: str, target: Path, field: str) -> FetchSummary:
    name = posixpath.basename(urlsplit(source.url).path.rstrip("/")) or "download"
    manifest = read_manifest(target)
    if manifest is not None and files_intact(target, {name: int(manifest.get("size", -1))}):
        validators = {
            k: v
            for k, v in (
                ("If-None-Match", manifest.get("etag")),
                ("If-Modified-Since", manifest.get("lastModified")),
            )
            if v
        }
        if validators:

            def unchanged() -> bool:
                try:
                    response = httpx.head(
                        source.url, headers=validators, timeout=_TIMEOUT, follow_redirects=True
                    )
                except httpx.TransportError as e:
                    raise TransientError(type(e).__name__) from None
                if response.status_code == 304:
                    return True
                _fail_on(response, field, shown)
                return False

            still = with_retries(unchanged, lambda cause: SourceUnreachableError(field, shown, cause))
        else:
            still = True  # nothing to ask the server with: the copy stands for this URL
        if still:
            size = int(manifest["size"])
            return FetchSummary(source=shown, files=1, size_bytes=size, cache_hit=True)
    staging = staging_folder(target)
    progress = Progress(shown, total_files=1)
    record: dict[str, Any] = {"source": text}

    def once() -> None:
        digest = hashlib.sha256()
        written = 0
        try:
            with httpx.stream("GET", source.url, timeout=_TIMEOUT, follow_redirects=True) as response:
                _fail_on(response, field, shown)
                expected = response.headers.get("Content-Length")
                progress.total_bytes = int(expected) if expected and expected.isdigit() else None
                with (staging / name).open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        progress.add_bytes(len(chunk))
                record.update(
                    etag=response.headers.get("ETag"), lastModified=response.headers.get("Last-Modified")
                )
        except httpx.TransportError as e:
            raise TransientError(type(e).__name__) from None
        if progress.total_bytes is not None and written != progress.total_bytes:
            raise TransientError(f"short read: {written} of {progress.total_bytes} bytes")
        record.update(size=written, sha256=digest.hexdigest())

    with_retries(once, lambda cause: SourceUnreachableError(field, shown, cause))
    progress.file_done()
    put_in_place(staging, target, record)
    size = int(record["size"])
    return FetchSummary(source=shown, files=1, size_bytes=size, fetched_bytes=size, cache_hit=False)
