"""A pre-filled Hugging Face hub cache (huggingface_hub's own layout), the hub's stand-in for tests.

With ``HF_HUB_OFFLINE=1`` the real ``snapshot_download`` resolves a repository and revision from it exactly as it
resolves what it downloaded before: refs/<revision> names the commit, snapshots/<commit>/ holds links to blobs/.
Nothing reaches the internet.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from huggingface_hub.file_download import repo_folder_name


def prefill_hub_cache(
    cache: Path, repo_id: str, files: dict[str, bytes], repo_type: str = "model", revision: str = "main"
) -> str:
    """Put ``files`` (path in the repository → content) into ``cache`` as ``repo_id`` at ``revision``; returns the
    commit it gave them (derived from the content, so the same files give the same commit)."""
    repo = cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    commit = hashlib.sha1(b"".join(hashlib.sha256(v).digest() for _, v in sorted(files.items()))).hexdigest()
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    for path in [repo, *repo.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    return commit


def model_files(folder: Path) -> dict[str, bytes]:
    """Every file of a model folder (``save_pretrained`` output), by its path in the folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
