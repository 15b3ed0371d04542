"""``s3://bucket/key-or-prefix`` with the minio client (any S3-compatible store; AWS S3 by default).

The endpoint and credentials come from the environment, as the AWS tools read them (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``),
set on the initializer pod from the source credentials Secret. A copy is kept with each object's size and ETag:
the next job lists the source (one request) and downloads nothing when the listing is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.credentials.providers import EnvAWSProvider
from minio.error import MinioException, S3Error, ServerError

from tensorone.api.source_urls import S3Source, segments_problem
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

T = TypeVar("T")
_NOT_FOUND = {"NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchObject", "ResourceNotFound"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "ExpiredToken"}
_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str


def client() -> Minio:
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "https://s3.amazonaws.com"
    )
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    credentials = EnvAWSProvider() if os.environ.get("AWS_ACCESS_KEY_ID") else None
    # No retries inside the client: ``with_retries`` does them, with backoff, and says so in the log.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=120), retries=urllib3.Retry(total=0, redirect=3)
    )
    return Minio(
        parts.netloc, credentials=credentials, secure=parts.scheme == "https",
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"), http_client=http,
    )  # fmt: skip


class _Call:
    """Turns the client's errors into ours: missing and denied at once, network and server errors retried."""

    def __init__(self, field: str, shown: str) -> None:
        self.field, self.shown = field, shown

    def __call__(self, action: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return action()
            except S3Error as e:
                if e.code in _NOT_FOUND:
                    raise SourceNotFoundError(self.field, self.shown, f"not found ({e.code})") from None
                if e.code in _DENIED:
                    raise SourceDeniedError(
                        self.field,
                        self.shown,
                        f"access denied ({e.code}); check the source credentials Secret",
                    ) from None
                if e.code in _TRANSIENT:
                    raise TransientError(str(e.code)) from None
                raise SourceInvalidError(
                    self.field, self.shown, f"the store refused the request ({e.code})"
                ) from None
            except ServerError as e:
                raise TransientError(f"server error {e.status_code}") from None
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise TransientError(type(e).__name__) from None
            except MinioException as e:
                raise TransientError(type(e).__name__) from None

        return with_retries(attempt, lambda cause: SourceUnreachableError(self.field, self.shown, cause))


def _listing(s3: Minio, source: S3Source, call: _Call) -> tuple[list[RemoteObject], str]:
    """The objects the source names and the prefix their local names are relative to."""
    key = source.key
    if key and not key.endswith("/"):
        try:
            found = call(lambda: s3.stat_object(source.bucket, key))
        except SourceNotFoundError:
            pass  # not one object: a prefix, listed below
        else:
            return [RemoteObject(key, int(found.size or 0), str(found.etag or ""))], posixpath.dirname(key)
    prefix = key.rstrip("/") + "/" if key else ""

    def listed() -> list[RemoteObject]:
        return [
            RemoteObject(str(o.object_name), int(o.size or 0), str(o.etag or ""))
            for o in s3.list_objects(source.bucket, prefix=prefix, recursive=True)
            if o.object_name and not o.is_dir
        ]

    objects = call(listed)
    if not objects:
        what = (
            "no such object, and no object under it as a prefix"
            if key and not key.endswith("/")
            else "no object under this prefix"
        )
        raise SourceNotFoundError(call.field, call.shown, f"not found ({what})")
    parent = posixpath.dirname(key.rstrip("/")) if key else ""
    return objects, parent


def _local_name(obj: RemoteObject, parent: str, bucket_only: str | None, field: str, shown: str) -> str:
    name = obj.key[len(parent) + 1 :] if parent else obj.key
    if bucket_only:
        name = f"{bucket_only}/{name}"
    problem = segments_problem(name)
    if problem:
        # An object name like a/../../x would be written outside the copy's folder.
        raise SourceInvalidError(field, shown, f"an object's name {problem}; it cannot be stored as a file")
    return name


def _download(
    s3: Minio, bucket: str, obj: RemoteObject, target: Path, progress: Progress, call: _Call
) -> None:
    def once() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        md5 = hashlib.md5(usedforsecurity=False)
        written = 0
        response = s3.get_object(bucket, obj.key)
        try:
            with target.open("wb") as out:
                for chunk in response.stream(_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    written += len(chunk)
                    progress.add_bytes(len(chunk))
        finally:
            response.close()
            response.release_conn()
        if written != obj.size:
            raise TransientError(f"short read: {written} of {obj.size} bytes")
        etag = obj.etag.strip('"')
        # A multipart upload's ETag is not an MD5 of the content ("…-N"); a single part's is.
        if etag and "-" not in etag and len(etag) == 32 and md5.hexdigest() != etag:
            raise TransientError("content does not match its ETag")

    call(once)
    progress.file_done()


def fetch_s3(source: S3Source, text: str, shown: str, target: Path, field: str) -> FetchSummary:
    """Make ``target`` a complete copy of the source (from the cache when the listing is unchanged)."""
    s3 = client()
    call = _Call(field, shown)
    objects, parent = _listing(s3, source, call)
    bucket_only = source.bucket if not source.key else None
    names = {_local_name(o, parent, bucket_only, field, shown): o for o in objects}
    listing = {name: {"size": o.size, "etag": o.etag} for name, o in names.items()}
    total = sum(o.size for o in objects)
    manifest = read_manifest(target)
    sizes = {n: o.size for n, o in names.items()}
    if manifest is not None and manifest.get("objects") == listing and files_intact(target, sizes):
        return FetchSummary(source=shown, files=len(names), size_bytes=total, cache_hit=True)
    progress = Progress(shown, total_files=len(names), total_bytes=total)
    staging = staging_folder(target)
    for name, obj in sorted(names.items()):
        _download(s3, source.bucket, obj, staging / name, progress, call)
    record: dict[str, Any] = {"source": text, "objects": listing}
    put_in_place(staging, target, record)
    return FetchSummary(
        source=shown,
        files=len(names),
        size_bytes=total,
        fetched_bytes=progress.fetched_bytes,
        cache_hit=False,
    )
