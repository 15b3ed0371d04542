"""Checkpoints: atomic folders with a manifest, retention, and falling back past damaged ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tensorone_trainer.checkpoints import CheckpointStore, human_size
from tensorone_trainer.errors import ConfigurationError


def _save(store: CheckpointStore, step: int, loss: float, payload: bytes = b"weights") -> None:
    store.save(
        f"ckpt_step_{step}",
        epoch=0,
        step=step,
        loss=loss,
        write=lambda folder: (folder / "weights.bin").write_bytes(payload + bytes([step])),
    )


def test_checkpoint_folder_holds_files_and_manifest_with_hashes(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=3)
    _save(store, 5, 1.5)
    manifest = json.loads((tmp_path / "ckpt_step_5" / "manifest.json").read_text())
    assert manifest["id"] == "ckpt_step_5"
    assert manifest["step"] == 5
    assert manifest["loss"] == 1.5
    assert manifest["sizeBytes"] == len(b"weights") + 1
    assert len(manifest["files"]["weights.bin"]["sha256"]) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_step_5"]  # no temporary folder left behind


def test_a_step_this_run_saved_already_is_kept_not_replaced(tmp_path: Path) -> None:
    # A stop right after a periodic checkpoint saves the same step again; replacing the folder would open a window
    # (two renames) in which a SIGKILL leaves no checkpoint of that id.
    store = CheckpointStore(tmp_path, keep_last=3)
    _save(store, 15, 1.0, payload=b"periodic")
    _save(store, 15, 1.0, payload=b"on-stop")
    assert (tmp_path / "ckpt_step_15" / "weights.bin").read_bytes() == b"periodic" + bytes([15])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_step_15"]


def test_a_later_run_reaching_a_saved_step_replaces_that_checkpoint(tmp_path: Path) -> None:
    _save(CheckpointStore(tmp_path, keep_last=3), 15, 1.0, payload=b"first run")
    _save(CheckpointStore(tmp_path, keep_last=3), 15, 1.0, payload=b"resumed run")
    assert (tmp_path / "ckpt_step_15" / "weights.bin").read_bytes() == b"resumed run" + bytes([15])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_step_15"]


def test_retention_keeps_last_k_and_the_best(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=2)
    for step, loss in [(1, 3.0), (2, 0.5), (3, 2.0), (4, 2.5), (5, 2.2)]:
        _save(store, step, loss)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_step_2", "ckpt_step_4", "ckpt_step_5"]


def test_resume_latest_skips_a_damaged_checkpoint_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CheckpointStore(tmp_path, keep_last=5)
    _save(store, 1, 1.0)
    _save(store, 2, 0.9)
    (tmp_path / "ckpt_step_2" / "weights.bin").write_bytes(b"bit rot!")
    with caplog.at_level(logging.WARNING):
        assert store.resolve("latest").id == "ckpt_step_1"
    assert "ckpt_step_2 fails its hash check" in caplog.text


def test_resume_from_a_named_checkpoint_and_an_unknown_one(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=5)
    _save(store, 1, 1.0)
    _save(store, 2, 0.9)
    assert store.resolve("ckpt_step_1").id == "ckpt_step_1"
    with pytest.raises(ConfigurationError, match="ckpt_step_9"):
        store.resolve("ckpt_step_9")


def test_half_written_checkpoint_is_invisible(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=5)
    _save(store, 1, 1.0)
    (tmp_path / ".tmp-ckpt_step_2-123").mkdir()  # a writer killed before the rename
    assert [m.id for m in store.manifests()] == ["ckpt_step_1"]


@pytest.mark.parametrize(("size", "text"), [(512, "512B"), (62_368, "62.4KB"), (2_300_000_000, "2.3GB")])
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
