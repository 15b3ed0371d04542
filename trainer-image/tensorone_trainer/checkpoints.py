"""Checkpoints on the job's volume: written atomically, verified by hash, pruned by retention.

A checkpoint is a folder ``<root>/<checkpoint-id>/`` with whatever the loop wrote plus ``manifest.json`` (id,
epoch, step, loss, size, sha256 of every file). It is written under a temporary name and renamed into place,
so a worker killed mid-write never leaves a half checkpoint that looks complete; resume verifies the hashes
and falls back to the previous good checkpoint (with a warning) when one was damaged afterwards.
Ids: ``ckpt_epoch_<n>`` at the end of epoch n (1-based), ``ckpt_step_<n>`` at optimizer step n.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tensorone.api.status import CheckpointInfo
from tensorone_trainer.errors import ConfigurationError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"


def epoch_checkpoint_id(epoch: int) -> str:
    return f"ckpt_epoch_{epoch}"


def step_checkpoint_id(step: int) -> str:
    return f"ckpt_step_{step}"


def human_size(size_bytes: int) -> str:
    """``"2.3GB"``-style sizes, as the API shows them (powers of 1000, like the examples in API.md)."""
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    """What ``manifest.json`` records about one checkpoint."""

    id: str
    epoch: int
    step: int
    loss: float | None
    created_at: str
    size_bytes: int
    files: dict[str, dict[str, Any]]
    attempt: int | None = None
    eval_loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "epoch": self.epoch,
            "step": self.step,
            "loss": self.loss,
            "evalLoss": self.eval_loss,
            "createdAt": self.created_at,
            "sizeBytes": self.size_bytes,
            "size": human_size(self.size_bytes),
            "attempt": self.attempt,
            "files": self.files,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            id=data["id"],
            epoch=int(data["epoch"]),
            step=int(data["step"]),
            loss=data.get("loss"),
            created_at=data["createdAt"],
            size_bytes=int(data["sizeBytes"]),
            files=data["files"],
            attempt=data.get("attempt"),
            eval_loss=data.get("evalLoss"),
            extra=data.get("extra") or {},
        )

    @property
    def rank_metric(self) -> float:
        """What "best" means: the evaluation loss when there was one, else the training loss."""
        value = self.eval_loss if self.eval_loss is not None else self.loss
        return float("inf") if value is None else value

    def to_info(self) -> CheckpointInfo:
        return CheckpointInfo(
            id=self.id,
            epoch=self.epoch,
            step=self.step,
            loss=self.loss,
            created_at=datetime.fromisoformat(self.created_at),
            size=human_size(self.size_bytes),
            size_bytes=self.size_bytes,
            attempt=self.attempt,
        )


class CheckpointStore:
    """The checkpoints of one job under ``root``; only rank 0 writes, every rank may read."""

    def __init__(self, root: Path, keep_last: int = 3) -> None:
        self.root = root
        self.keep_last = keep_last
        self._written: dict[str, Manifest] = {}  # what this run saved, by id

    def path(self, checkpoint_id: str) -> Path:
        return self.root / checkpoint_id

    def save(
        self,
        checkpoint_id: str,
        *,
        epoch: int,
        step: int,
        loss: float | None,
        write: Callable[[Path], None],
        eval_loss: float | None = None,
        attempt: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Manifest:
        """Let ``write`` fill a fresh folder, add the manifest, and move it into place atomically.

        A step this run has saved already (a stop right after a periodic checkpoint) is not written again: the
        state is the same, and replacing a folder takes two renames, between which a SIGKILL at the end of the
        grace period would leave no checkpoint of that id at all.
        """
        already = self._written.get(checkpoint_id)
        if already is not None and already.step == step and (self.path(checkpoint_id) / MANIFEST).is_file():
            log.info("checkpoint %s already written by this run (step %d)", checkpoint_id, step)
            return already
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{_TMP_PREFIX}{checkpoint_id}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        write(tmp)
        files: dict[str, dict[str, Any]] = {}
        for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
            files[file.relative_to(tmp).as_posix()] = {"sha256": _sha256(file), "size": file.stat().st_size}
        manifest = Manifest(
            id=checkpoint_id,
            epoch=epoch,
            step=step,
            loss=loss,
            eval_loss=eval_loss,
            created_at=datetime.now(UTC).isoformat(),
            size_bytes=sum(int(f["size"]) for f in files.values()),
            files=files,
            attempt=attempt,
            extra=extra or {},
        )
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        final = self.path(checkpoint_id)
        if final.exists():
            # Saving an id again (a resumed run reaching the same step) replaces it; never two half states.
            stale = self.root / f"{_TMP_PREFIX}old-{checkpoint_id}-{os.getpid()}"
            final.rename(stale)
            tmp.rename(final)
            shutil.rmtree(stale)
        else:
            tmp.rename(final)
        _fsync_dir(self.root)
        log.info("checkpoint %s written (step %d, %s)", checkpoint_id, step, human_size(manifest.size_bytes))
        self._written[checkpoint_id] = manifest
        self.prune()
        return manifest

    def manifests(self) -> list[Manifest]:
        """Every complete checkpoint (one with a readable manifest), oldest step first."""
        found = []
        if not self.root.is_dir():
            return []
        for entry in self.root.iterdir():
            if entry.name.startswith(_TMP_PREFIX) or not (entry / MANIFEST).is_file():
                continue
            try:
                found.append(Manifest.from_json(json.loads((entry / MANIFEST).read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring checkpoint %s: unreadable manifest", entry.name)
        return sorted(found, key=lambda m: (m.step, m.created_at))

    def verify(self, manifest: Manifest) -> bool:
        """True when every file the manifest lists is present with the recorded hash."""
        folder = self.path(manifest.id)
        for rel, entry in manifest.files.items():
            file = folder / rel
            if not file.is_file() or file.stat().st_size != entry["size"] or _sha256(file) != entry["sha256"]:
                return False
        return True

    def resolve(self, ref: str) -> Manifest:
        """The checkpoint to resume from: an id or ``latest``, falling back past damaged ones with a warning."""
        manifests = self.manifests()
        if ref == "latest":
            candidates = manifests
        else:
            ids = [m.id for m in manifests]
            if ref not in ids:
                raise ConfigurationError(f"resumeFrom: no checkpoint {ref!r} under {self.root}")
            candidates = manifests[: ids.index(ref) + 1]
        for manifest in reversed(candidates):
            if self.verify(manifest):
                return manifest
            log.warning("checkpoint %s fails its hash check; falling back to the previous one", manifest.id)
        raise ConfigurationError(f"resumeFrom: no intact checkpoint {ref!r} under {self.root}")

    def latest_good(self) -> Manifest | None:
        try:
            return self.resolve("latest")
        except ConfigurationError:
            return None

    def prune(self) -> None:
        """Keep the newest ``keep_last`` checkpoints and the best one; delete the rest."""
        manifests = self.manifests()
        if len(manifests) <= self.keep_last:
            return
        keep = {m.id for m in manifests[-self.keep_last :]}
        keep.add(min(manifests, key=lambda m: m.rank_metric).id)
        for manifest in manifests:
            if manifest.id not in keep:
                shutil.rmtree(self.path(manifest.id), ignore_errors=True)
                log.info("checkpoint %s removed (retention: last %d + best)", manifest.id, self.keep_last)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with file.open("rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(root)
