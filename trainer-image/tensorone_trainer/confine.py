"""The worker-side half of path confinement: every dataset and model path resolves inside the data volume.

The platform checks paths as text where they are given; only here, on the mounted volume, can symlinks be
followed. A run config without ``dataRoot`` (a person running the trainer on their own files) is not confined.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tensorone.api.data_paths import OutsideDataVolumeError, resolve_inside
from tensorone.api.trainer_config import AnyRunConfig
from tensorone_trainer.errors import ConfigurationError


def confined_path(root: str | Path | None, path: str | Path, field: str) -> Path:
    """``path`` resolved, when it stays inside ``root``; else ``ConfigurationError`` naming ``field``."""
    if root is None:
        return Path(path)
    try:
        return resolve_inside(root, path)
    except OutsideDataVolumeError as e:
        raise ConfigurationError(f"{field}: {e}") from e


def confined_files(root: str | Path | None, files: Iterable[Path], field: str) -> list[Path]:
    """Each of ``files`` resolved inside ``root`` (a symlink inside a dataset folder must not lead out of it)."""
    return [confined_path(root, file, field) for file in files]


def dataset_path(run: AnyRunConfig) -> Path:
    """The run's dataset, resolved inside the data volume."""
    return confined_path(run.data_root, run.dataset.path, "dataset source")


def model_location(run: AnyRunConfig, value: str, field: str) -> str:
    """A model's hub id as given, or its folder resolved inside the data volume.

    A hub id is a path too when a folder of that name exists where the trainer runs (``from_pretrained`` would
    load it), so anything that exists on disk is confined, whatever it looks like.
    """
    if not value.startswith("/") and not Path(value).exists():
        return value
    return str(confined_path(run.data_root, value, field))
