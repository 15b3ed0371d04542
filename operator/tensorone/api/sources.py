"""Where fetched datasets and hub models live on the account's data volume, and what the initializer reports.

The initializer (``python -m tensorone_trainer.initialize``, run by the operator in a pod before any worker)
copies a dataset URL into ``SOURCES_DIR/<key>/`` and a hub model into the hub cache ``HUB_CACHE_DIR``; the
operator tells the trainer the same local path (``local_dataset_path``), so the trainer reads a fetched dataset
through the code path of a dataset already on the volume. Both sides import these functions: the layout is
defined once.

The cache is per account (it is on the account's own data volume, never shared with another account: private
data fetched with one account's credentials must not be served to another). The key is the source text, which
carries the revision (``hf://…@rev``); the initializer revalidates what it can cheaply (an S3 listing, the hub's
revision) and fetches again only what changed.
"""

from __future__ import annotations

import hashlib
import posixpath
from urllib.parse import urlsplit

from pydantic import Field

from tensorone.api.base import CamelModel
from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH, FETCHABLE_SCHEMES, url_scheme
from tensorone.api.source_urls import HttpsSource, HubSource, S3Source, parse_source_url
from tensorone.api.trainer_config import DatasetCheck

CACHE_ROOT = f"{DATA_VOLUME_MOUNT_PATH}/.tensorone-cache"
SOURCES_DIR = f"{CACHE_ROOT}/sources"
HUB_CACHE_DIR = f"{CACHE_ROOT}/huggingface/hub"
# Written last into a source's folder: its presence means the copy is complete (files, sizes, hashes).
MANIFEST_NAME = ".tensorone-source.json"
# Files of a hub model the trainer needs (weights in safetensors; configs; tokenizer files).
MODEL_ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja")
# What the initializer's progress lines start with on its stdout (the operator reads the last one from its log).
PROGRESS_PREFIX = "tensorone-progress "


def is_fetched(source: str) -> bool:
    """Whether the platform fetches this dataset source (a URL) rather than reading it in place."""
    return url_scheme(source) in FETCHABLE_SCHEMES


def is_hub_model(model: str) -> bool:
    """A model named by hub id (``org/name``), which the initializer fetches into the hub cache."""
    return url_scheme(model) is None and not model.startswith(("/", "."))


def cache_key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def local_copy_dir(source: str) -> str:
    """The folder of a fetched source's copy (its manifest inside)."""
    return f"{SOURCES_DIR}/{cache_key(source)}"


def _last_segment(path: str, fallback: str) -> str:
    return posixpath.basename(path.rstrip("/")) or fallback


def local_dataset_path(source: str) -> str:
    """Where the trainer reads ``source``: the source itself when it is a volume path, else its local copy.

    ``s3://b/data/train.jsonl`` → ``<copy>/train.jsonl``; ``s3://b/data/`` (a prefix) → ``<copy>/data`` (a folder);
    ``https://h/x/train.jsonl`` → ``<copy>/train.jsonl``; ``hf://datasets/org/name/train.jsonl@rev`` →
    ``<copy>/name/train.jsonl`` (``<copy>/name`` links to the revision's snapshot in the hub cache).
    """
    if not is_fetched(source):
        return source
    parsed = parse_source_url(source)
    folder = local_copy_dir(source)
    if isinstance(parsed, S3Source):
        return f"{folder}/{_last_segment(parsed.key, parsed.bucket)}"
    if isinstance(parsed, HttpsSource):
        return f"{folder}/{_last_segment(urlsplit(parsed.url).path, 'download')}"
    assert isinstance(parsed, HubSource)
    name = parsed.repo_id.split("/")[-1]
    return f"{folder}/{name}/{parsed.path}" if parsed.path else f"{folder}/{name}"


class FetchSummary(CamelModel):
    """One fetched source: what is there now, and whether it came from the cache."""

    source: str = Field(description="The source as messages show it (no credentials, no query)")
    files: int = Field(ge=0)
    size_bytes: int = Field(ge=0)
    fetched_bytes: int = Field(
        0, ge=0, description="Bytes downloaded by this initializer (0: all from cache)"
    )
    cache_hit: bool


class FetchProgress(CamelModel):
    """A progress line of the initializer (``PROGRESS_PREFIX`` + JSON on its stdout)."""

    source: str
    files: int = Field(ge=0)
    fetched_bytes: int = Field(ge=0)
    total_files: int | None = Field(None, ge=0)
    total_bytes: int | None = Field(None, ge=0)


class InitializerReport(CamelModel):
    """The initializer's termination message when it succeeded."""

    dataset: FetchSummary | None = None
    model: FetchSummary | None = None
    check: DatasetCheck | None = None


def describe_progress(progress: FetchProgress) -> str:
    total_files = f" of {progress.total_files}" if progress.total_files is not None else ""
    total_bytes = f" of {human_bytes(progress.total_bytes)}" if progress.total_bytes is not None else ""
    return (
        f"fetching {progress.source}: {progress.files}{total_files} files, "
        f"{human_bytes(progress.fetched_bytes)}{total_bytes}"
    )


def describe_fetch(summary: FetchSummary) -> str:
    how = "from the cache" if summary.cache_hit else f"fetched {human_bytes(summary.fetched_bytes)}"
    return f"{summary.source}: {summary.files} files, {human_bytes(summary.size_bytes)} ({how})"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
