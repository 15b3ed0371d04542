"""YOLO datasets: use a ``data.yaml`` as given, or lay out a plain images/labels folder for ultralytics.

A user may upload either a ready YOLO dataset (``data.yaml`` + ``images/{train,val}`` + ``labels/...``) or just
``images/`` and ``labels/`` (plus an optional ``classes.txt``); the trainer then makes a seeded train/val split
with links, never copies. Label files are checked up front so a bad line fails the job (exit 65) by file and
line instead of being silently dropped by ultralytics.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from tensorone_trainer.confine import confined_files, confined_path
from tensorone_trainer.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def check_label_file(file: Path, num_classes: int | None) -> None:
    """Every line is ``class cx cy w h`` with a known class and normalised coordinates."""
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, *coords = int(parts[0]), *(float(p) for p in parts[1:])
        except ValueError as e:
            raise DataError(f"{file}:{number}: expected 'class cx cy w h' numbers") from e
        if len(coords) < 4:
            raise DataError(f"{file}:{number}: expected 'class cx cy w h', got {len(parts)} values")
        if cls < 0 or (num_classes is not None and cls >= num_classes):
            raise DataError(f"{file}:{number}: class {cls} is outside 0..{(num_classes or 1) - 1}")
        if any(not 0.0 <= c <= 1.0 for c in coords):
            raise DataError(f"{file}:{number}: coordinates must be normalised to 0..1")


def _class_names(root: Path, num_classes: int | None) -> dict[int, str]:
    names_file = root / "classes.txt"
    if names_file.is_file():
        names = [n.strip() for n in names_file.read_text(encoding="utf-8").splitlines() if n.strip()]
        return dict(enumerate(names))
    if num_classes is None:
        raise DataError(f"{root}: no data.yaml or classes.txt, and config.num_classes is not set")
    return {i: str(i) for i in range(num_classes)}


def _names_of(data: dict[str, Any]) -> dict[int, str]:
    names = data.get("names")
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()}
    raise DataError("data.yaml: 'names' must list the classes")


def _labels_for(images_dir: Path) -> Path:
    parts = list(images_dir.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    parts[index] = "labels"
    return Path(*parts)


def prepare_yolo_dataset(
    path: Path,
    work_dir: Path,
    *,
    num_classes: int | None,
    val_split: float | None,
    seed: int,
    root: str | Path | None = None,
) -> tuple[Path, int]:
    """The ``data.yaml`` to train on and the number of classes, checking every label file; with ``root``, every
    file and folder it names must resolve inside it (``data.yaml`` may point anywhere, links may lead out)."""
    data_yaml = path if path.is_file() else path / "data.yaml"
    if data_yaml.is_file():
        confined_path(root, data_yaml, "dataset source")
        try:
            data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            # PyYAML's message quotes the offending line; only the position is passed on.
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise DataError(f"{data_yaml}{where}: not valid YAML") from e
        if not isinstance(data, dict):
            raise DataError(f"{data_yaml}: expected a mapping with train, val and names")
        names = _names_of(data)
        base = Path(data.get("path") or data_yaml.parent)
        if not base.is_absolute():
            base = data_yaml.parent / base
        for split in ("train", "val"):
            if split not in data:
                raise DataError(f"{data_yaml}: missing '{split}'")
            split_dir = base / str(data[split])
            if not split_dir.is_dir():
                raise DataError(f"{data_yaml}: {split} images folder {split_dir} not found")
            confined_path(root, split_dir, f"dataset source ({data_yaml.name} '{split}')")
            confined_files(root, split_dir.iterdir(), "dataset source")
            if "images" in split_dir.parts:
                labels = sorted(_labels_for(split_dir).glob("*.txt"))
                for label in confined_files(root, labels, "dataset source"):
                    check_label_file(label, len(names))
        if num_classes is not None and num_classes != len(names):
            raise DataError(f"{data_yaml}: {len(names)} class names but config.num_classes is {num_classes}")
        return data_yaml, len(names)
    images_dir, labels_dir = path / "images", path / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise DataError(f"{path}: expected data.yaml, or images/ and labels/ folders")
    confined_files(
        root, [*images_dir.iterdir(), *labels_dir.iterdir(), path / "classes.txt"], "dataset source"
    )
    names = _class_names(path, num_classes)
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(images) < 2:
        raise DataError(f"{images_dir}: need at least 2 images")
    for label in sorted(labels_dir.glob("*.txt")):
        check_label_file(label, len(names))
    random.Random(seed).shuffle(images)
    n_val = min(len(images) - 1, max(1, round((val_split or 0.2) * len(images))))
    layout = work_dir / "dataset"
    for split, members in (("val", images[:n_val]), ("train", images[n_val:])):
        for kind in ("images", "labels"):
            (layout / kind / split).mkdir(parents=True, exist_ok=True)
        for image in members:
            link = layout / "images" / split / image.name
            if not link.exists():
                link.symlink_to(image.resolve())
            label = labels_dir / f"{image.stem}.txt"
            label_link = layout / "labels" / split / label.name
            if label.is_file() and not label_link.exists():
                label_link.symlink_to(label.resolve())
    out = layout / "data.yaml"
    out.write_text(
        yaml.safe_dump({"path": str(layout), "train": "images/train", "val": "images/val", "names": names}),
        encoding="utf-8",
    )
    return out, len(names)
