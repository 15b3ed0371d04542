"""What the demo trains on, made locally: nothing can be downloaded here, and nothing needs to be.

A tiny causal LM (random-initialised Llama, tokenizer trained on real text) and a dataset of real English
prose — paragraphs of the documentation that ships with Python — and a small synthetic detection dataset of
coloured shapes for YOLO. All are written onto the cluster's dataset volume, where jobs read them.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

YOLO_CLASSES = ("red", "blue")
# Standard-library modules whose documentation makes the demo's dataset: real English prose, present wherever
# Python is.
DOCUMENTED_MODULES = (
    "json", "csv", "random", "collections", "argparse", "functools", "itertools", "pathlib", "logging", "textwrap",
    "string", "heapq", "bisect", "shutil", "tempfile", "dataclasses", "contextlib", "statistics", "subprocess",
    "threading", "asyncio", "socket", "email", "http.client", "urllib.request", "zipfile", "tarfile", "datetime",
    "decimal", "fractions", "re", "typing", "enum", "abc", "os", "io", "inspect", "pickle", "sqlite3", "unittest",
    "doctest", "difflib", "calendar", "queue", "sched", "selectors", "hashlib", "hmac", "secrets", "uuid",
)  # fmt: skip


def documentation_paragraphs(limit: int) -> list[str]:
    """Up to ``limit`` distinct paragraphs (8+ words) of the docstrings of ``DOCUMENTED_MODULES`` and their members."""
    paragraphs: dict[str, None] = {}
    for name in DOCUMENTED_MODULES:
        module = importlib.import_module(name)
        members = [getattr(module, attr, None) for attr in dir(module) if not attr.startswith("_")]
        documented = [module] + [
            m for m in members if (inspect.isclass(m) or inspect.isfunction(m)) and m.__module__ == name
        ]
        for obj in documented:
            for block in (inspect.getdoc(obj) or "").split("\n\n"):
                text = " ".join(block.split())
                if len(text.split()) >= 8 and not text.startswith((">>>", "...")):
                    paragraphs.setdefault(text)
                    if len(paragraphs) >= limit:
                        return list(paragraphs)
    return list(paragraphs)


def write_text_dataset(path: Path, paragraphs: list[str]) -> Path:
    """One JSONL record ``{"text": …}`` per paragraph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": p}) + "\n" for p in paragraphs), encoding="utf-8")
    return path


def build_language_assets(volume: Path, paragraphs: int = 800) -> tuple[Path, Path]:
    """The tiny model (``models/tiny-llama``) and the dataset (``text/python-docs.jsonl``) on the volume."""
    from tensorone_trainer.tiny import build_tiny_llama

    texts = documentation_paragraphs(paragraphs)
    model_dir = build_tiny_llama(volume / "models" / "tiny-llama", texts)
    dataset = write_text_dataset(volume / "text" / "python-docs.jsonl", texts)
    return model_dir, dataset


def write_shapes_dataset(root: Path, n_train: int = 16, n_val: int = 8, size: int = 64) -> Path:
    """A YOLO-format detection set: one red or blue rectangle per grey image, with labels and ``data.yaml``.

    ``data.yaml`` has no ``path`` key, so ultralytics resolves the splits next to it wherever the volume is mounted.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = np.full((size, size, 3), 114, dtype=np.uint8)
            cls = i % 2
            w, h = (int(v) for v in rng.integers(size // 4, size // 2, size=2))
            x0, y0 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            image[y0 : y0 + h, x0 : x0 + w] = (220, 40, 40) if cls == 0 else (40, 40, 220)
            Image.fromarray(image).save(root / "images" / split / f"{i}.png")
            cx, cy = (x0 + w / 2) / size, (y0 + h / 2) / size
            (root / "labels" / split / f"{i}.txt").write_text(
                f"{cls} {cx:.6f} {cy:.6f} {w / size:.6f} {h / size:.6f}\n", encoding="utf-8"
            )
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(YOLO_CLASSES))
    data_yaml = root / "data.yaml"
    data_yaml.write_text(f"train: images/train\nval: images/val\nnames:\n{names}", encoding="utf-8")
    return data_yaml
