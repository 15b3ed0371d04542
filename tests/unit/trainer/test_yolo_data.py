"""YOLO datasets: a ready data.yaml is used as is; a plain images/labels folder is laid out with a split."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tensorone_trainer.data.yolo import prepare_yolo_dataset
from tensorone_trainer.errors import ConfigurationError, DataError
from tests.helpers.tiny_models import write_yolo_dataset


def test_ready_dataset_is_used_as_given(tmp_path: Path) -> None:
    data_yaml = write_yolo_dataset(tmp_path / "data", n_train=2, n_val=1, imgsz=32)
    assert prepare_yolo_dataset(
        tmp_path / "data", tmp_path / "out", num_classes=None, val_split=0.2, seed=0
    ) == (
        data_yaml,
        2,
    )


def test_plain_folder_is_laid_out_with_a_seeded_split(tmp_path: Path) -> None:
    write_yolo_dataset(tmp_path / "src", n_train=8, n_val=0, imgsz=32)
    plain = tmp_path / "plain"
    shutil.copytree(tmp_path / "src" / "images" / "train", plain / "images")
    shutil.copytree(tmp_path / "src" / "labels" / "train", plain / "labels")
    (plain / "classes.txt").write_text("red\nblue\n")
    data_yaml, classes = prepare_yolo_dataset(
        plain, tmp_path / "out", num_classes=None, val_split=0.25, seed=1
    )
    data = yaml.safe_load(data_yaml.read_text())
    assert classes == 2
    assert data["names"] == {0: "red", 1: "blue"}
    train = sorted(p.name for p in (Path(data["path"]) / "images" / "train").iterdir())
    val = sorted(p.name for p in (Path(data["path"]) / "images" / "val").iterdir())
    assert (len(train), len(val)) == (6, 2)
    assert not set(train) & set(val)
    assert (Path(data["path"]) / "labels" / "val" / val[0].replace(".png", ".txt")).is_file()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "expected 'class cx cy w h'"),
        ("0 0.5 1.5 0.2 0.2", "normalised"),
        ("x 0.5 0.5 0.2 0.2", "numbers"),
    ],
    ids=["too-few", "out-of-range", "not-numbers"],
)
def test_bad_label_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    write_yolo_dataset(tmp_path / "data", n_train=2, n_val=1, imgsz=32)
    label = tmp_path / "data" / "labels" / "val" / "0.txt"
    label.write_text(line + "\n")
    with pytest.raises(DataError, match=rf"{label}:1: .*{message}"):
        prepare_yolo_dataset(tmp_path / "data", tmp_path / "out", num_classes=None, val_split=0.2, seed=0)


SECRET = "SECRET-first-line-of-another-file"


@pytest.mark.parametrize(
    ("file", "content", "names"),
    [
        ("labels/val/0.txt", f"{SECRET} 0.5 0.5 0.2 0.2\n", "0.txt:1"),
        ("data.yaml", f"names: [a, b]\n{SECRET}: b: c\n", "data.yaml:2"),
    ],
    ids=["label-line", "data-yaml"],
)
def test_errors_name_file_and_line_but_never_quote_the_contents(
    tmp_path: Path, file: str, content: str, names: str
) -> None:
    write_yolo_dataset(tmp_path / "data", n_train=2, n_val=1, imgsz=32)
    (tmp_path / "data" / file).write_text(content)
    with pytest.raises(DataError) as refused:
        prepare_yolo_dataset(tmp_path / "data", tmp_path / "out", num_classes=None, val_split=0.2, seed=0)
    assert names in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_split_folder_outside_the_data_volume_is_refused(tmp_path: Path) -> None:
    write_yolo_dataset(tmp_path / "volume" / "data", n_train=2, n_val=1, imgsz=32)
    shutil.move(tmp_path / "volume" / "data" / "images" / "val", tmp_path / "elsewhere")
    data_yaml = tmp_path / "volume" / "data" / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    data_yaml.write_text(yaml.safe_dump({**data, "val": str(tmp_path / "elsewhere")}))
    with pytest.raises(ConfigurationError, match="outside the account's data volume"):
        prepare_yolo_dataset(
            tmp_path / "volume" / "data",
            tmp_path / "out",
            num_classes=None,
            val_split=0.2,
            seed=0,
            root=tmp_path / "volume",
        )
