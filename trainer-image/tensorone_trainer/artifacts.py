"""The run's outputs as the job status shows them (``status.artifacts``): what was written, where, how big.

The names are the contract's (``tensorone.api.names.ARTIFACT_*``): the facade and the CLI find artifacts by them.
"""

from __future__ import annotations

from pathlib import Path

from tensorone.api import names
from tensorone.api.status import Artifact
from tensorone_trainer.checkpoints import human_size

# Artifact name → where it is under the output folder.
LAYOUT = {
    names.ARTIFACT_ADAPTER: names.ARTIFACT_ADAPTER,
    names.ARTIFACT_MERGED: names.ARTIFACT_MERGED,
    names.ARTIFACT_MODEL: names.ARTIFACT_MODEL,
    names.ARTIFACT_BEST: "best.pt",
    names.ARTIFACT_LAST: "last.pt",
}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def describe_artifacts(output_dir: Path) -> list[Artifact]:
    """Every known artifact present under ``output_dir``, in LAYOUT order."""
    found = []
    for name, relative in LAYOUT.items():
        path = output_dir / relative
        if not path.exists():
            continue
        size = _size(path)
        found.append(
            Artifact(
                name=name,
                path=str(path.resolve()),
                kind="file" if path.is_file() else "folder",
                size=human_size(size),
                size_bytes=size,
            )
        )
    return found
