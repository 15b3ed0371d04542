"""Hugging Face hub sources with huggingface_hub's ``snapshot_download``: ``hf://datasets/org/name[/path]@rev``
datasets and base models named by hub id.

Both go into one hub cache on the data volume (``HUB_CACHE_DIR``, huggingface_hub's own layout, keyed by repository
and commit), so a second job on the same repository and revision downloads nothing. Workers load a model from that
cache by its hub id with ``HF_HUB_OFFLINE=1`` (the code path of any hub id); a dataset's copy folder links to its
snapshot. The token (``HF_TOKEN``) and a mirror (``HF_ENDPOINT``) come from the source credentials Secret.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name

from tensorone.api.source_urls import HubSource
from tensorone.api.sources import MODEL_ALLOW_PATTERNS, FetchSummary
from tensorone_trainer.fetch.common import (
    Progress,
    TransientError,
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


def _blobs(hub_cache: Path, repo_id: str, repo_type: str) -> dict[str, int]:
    folder = hub_cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type) / "blobs"
    if not folder.is_dir():
        return {}
    return {
        p.name: p.stat().st_size
        for p in folder.iterdir()
        if p.is_file() and not p.name.endswith(".incomplete")
    }


def _snapshot(
    repo_id: str,
    repo_type: str,
    revision: str,
    hub_cache: Path,
    patterns: list[str] | None,
    field: str,
    shown: str,
) -> tuple[Path, int]:
    """(the snapshot folder, bytes downloaded now); huggingface_hub's errors turned into ours."""
    before = _blobs(hub_cache, repo_id, repo_type)

    def once() -> str:
        try:
            return str(snapshot_download(
                repo_id, repo_type=repo_type, revision=revision, cache_dir=hub_cache, allow_patterns=patterns,
            ))  # fmt: skip
        except GatedRepoError:
            raise SourceDeniedError(
                field, shown, "gated: the token in the source credentials Secret has no access"
            ) from None
        except RepositoryNotFoundError:
            raise SourceNotFoundError(
                field, shown, "no such repository on the hub (or it is private)"
            ) from None
        except RevisionNotFoundError:
            raise SourceNotFoundError(field, shown, f"no revision {revision!r} in the repository") from None
        except LocalEntryNotFoundError:
            if constants.HF_HUB_OFFLINE:
                raise SourceNotFoundError(
                    field, shown, "not in the hub cache, and the hub is not reachable (HF_HUB_OFFLINE is set)"
                ) from None
            raise TransientError("the hub is not reachable") from None
        except EntryNotFoundError:
            raise SourceNotFoundError(field, shown, "not found in the repository") from None
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            if status in (401, 403):
                raise SourceDeniedError(field, shown, f"access denied (HTTP {status})") from None
            if status == 429 or status >= 500:
                raise TransientError(f"HTTP {status}") from None
            raise SourceInvalidError(field, shown, f"the hub refused the request (HTTP {status})") from None
        except httpx2.TransportError as e:
            raise TransientError(type(e).__name__) from None

    where = Path(with_retries(once, lambda cause: SourceUnreachableError(field, shown, cause)))
    after = _blobs(hub_cache, repo_id, repo_type)
    return where, sum(size for name, size in after.items() if name not in before)


def _tally(folder: Path) -> tuple[int, int]:
    """(files, bytes) of a snapshot, a folder of it, or one file."""
    files = [folder] if folder.is_file() else [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def fetch_hub_dataset(
    source: HubSource, text: str, shown: str, target: Path, hub_cache: Path, field: str
) -> FetchSummary:
    patterns = [source.path, f"{source.path}/*"] if source.path else None
    snapshot, fetched = _snapshot(
        source.repo_id, source.repo_type, source.revision, hub_cache, patterns, field, shown
    )
    inside = snapshot / source.path if source.path else snapshot
    if not inside.exists():
        raise SourceNotFoundError(field, shown, "no such file or folder in the repository at this revision")
    files, size = _tally(inside)
    name = source.repo_id.split("/")[-1]
    manifest = read_manifest(target)
    link = target / name
    if manifest is None or manifest.get("snapshot") != snapshot.name or not link.exists():
        staging = staging_folder(target)
        # Relative: the data volume is mounted at different places in different pods.
        (staging / name).symlink_to(os.path.relpath(snapshot, target))
        put_in_place(staging, target, {"source": text, "snapshot": snapshot.name})
    Progress(shown, total_files=files, total_bytes=size, files=files, fetched_bytes=fetched).file_done()
    return FetchSummary(
        source=shown, files=files, size_bytes=size, fetched_bytes=fetched, cache_hit=fetched == 0
    )


def fetch_hub_model(model: str, hub_cache: Path, field: str) -> FetchSummary:
    snapshot, fetched = _snapshot(model, "model", "main", hub_cache, list(MODEL_ALLOW_PATTERNS), field, model)
    files, size = _tally(snapshot)
    Progress(model, total_files=files, total_bytes=size, files=files, fetched_bytes=fetched).file_done()
    return FetchSummary(
        source=model, files=files, size_bytes=size, fetched_bytes=fetched, cache_hit=fetched == 0
    )
