"""Reading a dataset's records from JSON, JSONL, CSV or Parquet, remembering where each came from.

Every record keeps its location (``file:line`` or ``file: row``) so that a malformed one is reported by the
place a person would open in an editor, before any training starts.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorone.api.dataset import DatasetFormat
from tensorone_trainer.confine import confined_files
from tensorone_trainer.errors import DataError

_SUFFIXES = {
    DatasetFormat.JSON: (".json",),
    DatasetFormat.JSONL: (".jsonl", ".ndjson"),
    DatasetFormat.CSV: (".csv",),
    DatasetFormat.PARQUET: (".parquet",),
}


@dataclass(frozen=True)
class Record:
    """One example as stored, and where it is."""

    location: str
    fields: dict[str, Any]


def dataset_files(path: Path, fmt: DatasetFormat, root: str | Path | None = None) -> list[Path]:
    """The files of a dataset: the file itself, or a folder's files of that format in name order; with ``root``,
    each must resolve inside it (a symlink in the folder must not lead out of the data volume)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES[fmt])
        if files:
            confined_files(root, files, "dataset source")
            return files
        raise DataError(f"{path}: no {fmt.value} files in the dataset folder")
    raise DataError(f"{path}: dataset not found")


def _read_jsonl(file: Path) -> Iterator[Record]:
    with file.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{file}:{number}: not valid JSON ({e.msg})") from e
            if not isinstance(value, dict):
                raise DataError(f"{file}:{number}: expected a JSON object, got {type(value).__name__}")
            yield Record(f"{file}:{number}", value)


def _read_json(file: Path) -> Iterator[Record]:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{file}:{e.lineno}: not valid JSON ({e.msg})") from e
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise DataError(f"{file}: expected a JSON array of objects (or {{'data': [...]}})")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DataError(f"{file}: record {index}: expected a JSON object, got {type(item).__name__}")
        yield Record(f"{file}: record {index}", item)


def _read_csv(file: Path) -> Iterator[Record]:
    with file.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            # reader.line_num is the physical line where this row ended (the header is line 1).
            yield Record(f"{file}:{reader.line_num}", {k: v for k, v in row.items() if k is not None})


def _read_parquet(file: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file; their text may quote it
        raise DataError(f"{file}: not a readable Parquet file ({type(e).__name__})") from e
    for index, row in enumerate(table.to_pylist()):
        yield Record(f"{file}: row {index}", row)


_READERS = {
    DatasetFormat.JSON: _read_json,
    DatasetFormat.JSONL: _read_jsonl,
    DatasetFormat.CSV: _read_csv,
    DatasetFormat.PARQUET: _read_parquet,
}


def _records_of(file: Path, fmt: DatasetFormat) -> Iterator[Record]:
    """The records of one file; undecodable bytes and broken CSV are data errors, not crashes to retry."""
    try:
        yield from _READERS[fmt](file)
    except UnicodeDecodeError as e:
        raise DataError(f"{file}: not UTF-8 text (byte {e.start})") from e
    except csv.Error as e:  # its messages describe the problem ("line contains NUL"), never the text
        raise DataError(f"{file}: not valid CSV ({e})") from e


def read_records(path: Path, fmt: DatasetFormat, root: str | Path | None = None) -> list[Record]:
    """All records of a text dataset, in file then line order (files confined to ``root`` when given)."""
    if fmt not in _READERS:
        raise DataError(f"{path}: format {fmt.value!r} is not a text dataset format")
    records = [record for file in dataset_files(path, fmt, root) for record in _records_of(file, fmt)]
    if not records:
        raise DataError(f"{path}: the dataset has no records")
    return records
