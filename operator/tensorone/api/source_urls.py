"""Dataset sources written as URLs (``s3://``, ``hf://``, ``https://``): their shape, judged without fetching.

Registration, job creation and the operator's admission all refuse a malformed URL here, naming what is wrong,
before anything is created; the initializer parses the same text with the same function, so what was accepted is
exactly what gets fetched. Every segment that becomes a file name in the local copy is checked like a volume path
(no ``.``/``..``, no control characters): the copy must stay inside its cache folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# RE2-compatible (the CRD's pattern): the URL forms the platform fetches, in lower case.
SOURCE_URL_PATTERN = r"^(s3|hf|https)://[^\s]+$"

# S3 bucket naming rules (3-63 characters, lower case, digits, dots and hyphens, letter or digit at both ends).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HUB_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class S3Source:
    """``s3://bucket/key``: one object, or every object under the prefix ``key`` (empty: the whole bucket)."""

    bucket: str
    key: str


@dataclass(frozen=True)
class HubSource:
    """``hf://datasets/org/name[/path]@revision``: a Hugging Face hub repository, or one file or folder of it."""

    repo_type: str
    repo_id: str
    path: str
    revision: str


@dataclass(frozen=True)
class HttpsSource:
    """``https://host/path``: one file."""

    url: str


SourceUrl = S3Source | HubSource | HttpsSource


def segments_problem(path: str) -> str | None:
    """Why the ``/``-separated ``path`` cannot be laid out as files under a folder (None: it can)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "must not contain control characters"
    parts = path.strip("/").split("/") if path.strip("/") else []
    if any(part in (".", "..") for part in parts):
        return "must not contain '.' or '..' segments"
    if "" in parts:
        return "must not contain empty segments ('//')"
    return None


def _parse_s3(rest: str) -> S3Source:
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            "s3:// URL: the bucket must be 3-63 characters of lower-case letters, digits, '.' and '-' "
            "(s3://bucket/key-or-prefix)"
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"s3:// URL: the key is longer than {MAX_KEY_BYTES} bytes")
    problem = segments_problem(key)
    if problem:
        raise ValueError(f"s3:// URL: the key {problem}")
    return S3Source(bucket=bucket, key=key)


def _parse_hub(rest: str) -> HubSource:
    where, at, revision = rest.rpartition("@") if "@" in rest else (rest, "", "main")
    if at and not _REVISION.match(revision):
        raise ValueError("hf:// URL: the revision after '@' must be a branch, tag or commit")
    if at and segments_problem(revision):
        raise ValueError("hf:// URL: the revision must not contain '.' or '..' segments")
    parts = where.split("/")
    if len(parts) < 3 or parts[0] != "datasets":
        raise ValueError(
            "hf:// URL: must look like hf://datasets/org/name[/file]@revision (a model is given as its hub id, "
            "org/name, in baseModel)"
        )
    org, name, path = parts[1], parts[2], "/".join(parts[3:])
    if not _HUB_SEGMENT.match(org) or not _HUB_SEGMENT.match(name):
        raise ValueError("hf:// URL: org and name must be hub names (letters, digits, '.', '_', '-')")
    problem = segments_problem(path)
    if problem:
        raise ValueError(f"hf:// URL: the path in the repository {problem}")
    return HubSource(repo_type="dataset", repo_id=f"{org}/{name}", path=path.strip("/"), revision=revision)


def _parse_https(text: str) -> HttpsSource:
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "https:// URL: must not carry credentials (user:password@); put them in the source credentials Secret"
        )
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError as e:
        raise ValueError("https:// URL: the port must be a number from 1 to 65535") from e
    if not _HOST.match(host) or port == 0:
        raise ValueError("https:// URL: needs a host name (https://host/path/file)")
    problem = segments_problem(parts.path)
    if problem or not parts.path.strip("/"):
        raise ValueError(f"https:// URL: the path {problem or 'must name a file'}")
    return HttpsSource(url=text)


def parse_source_url(text: str) -> SourceUrl:
    """The parsed URL; ``ValueError`` with a sentence (never quoting the URL) when it is malformed."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme != scheme.lower():
        raise ValueError("must be written scheme://… with the scheme in lower case (s3://, hf://, https://)")
    if any(c.isspace() for c in text):
        raise ValueError("must not contain white space")
    if scheme == "s3":
        return _parse_s3(rest)
    if scheme == "hf":
        return _parse_hub(rest)
    if scheme == "https":
        return _parse_https(text)
    raise ValueError(f"{scheme}:// is not a source the platform fetches (s3://, hf://, https://)")


def display_url(text: str) -> str:
    """The URL as messages may show it: no user info, no query or fragment (signed URLs carry secrets there)."""
    parts = urlsplit(text)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
