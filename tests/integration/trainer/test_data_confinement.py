"""The trainer reads only inside the account's data volume, and its errors never quote a file's contents.

The run config names the volume (``dataRoot``, as the operator writes it); links planted on the volume that lead
to another tenant's files must not be followed. A secret on the first line of such a file (or of a malformed
dataset of the account's own) must appear in no exit message and no log line.
"""

from __future__ import annotations

import json
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tensorone.api.trainer_config import EXIT_CONFIGURATION_ERROR, EXIT_DATA_ERROR
from tensorone_trainer.cli import main
from tests.helpers.tiny_models import build_tiny_llama, llm_run_config, write_text_dataset

pytestmark = pytest.mark.slow
SECRET = f"SECRET-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``volume/`` (this account's data volume: a model and a dataset) and ``elsewhere/`` (another tenant's files,
    each with the secret on its first line)."""
    root = tmp_path_factory.mktemp("confinement")
    volume, elsewhere = root / "volume", root / "elsewhere"
    build_tiny_llama(volume / "models" / "tiny")
    write_text_dataset(volume / "text" / "train.jsonl", n=16)
    elsewhere.mkdir()
    (elsewhere / "secret.csv").write_text(f"{SECRET}\nvalue\n", encoding="utf-8")
    (elsewhere / "secret.jsonl").write_text(f'{{"text": "{SECRET}"}}\n' * 8, encoding="utf-8")
    shutil.copytree(volume / "models" / "tiny", elsewhere / "model")
    (volume / "links").mkdir()
    (volume / "links" / "secret.csv").symlink_to(elsewhere / "secret.csv")
    (volume / "links" / "model").symlink_to(elsewhere / "model")
    (volume / "mixed").mkdir()
    shutil.copy(volume / "text" / "train.jsonl", volume / "mixed" / "a.jsonl")
    (volume / "mixed" / "b.jsonl").symlink_to(elsewhere / "secret.jsonl")
    (volume / "own").mkdir()
    (volume / "own" / "header-is-secret.csv").write_text(f"{SECRET}\nvalue\n", encoding="utf-8")
    return root


def _run(world: Path, name: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run the trainer's entrypoint in process; (exit code, termination message)."""
    path = world / f"{name}.json"
    path.write_text(json.dumps(config))
    termination = world / f"termination-{name}"
    monkeypatch.setenv("TENSORONE_TERMINATION_LOG", str(termination))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["run", "--config", str(path), "--output", str(world / f"out-{name}")])
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() routes SIGTERM to its stop flag
    return code, termination.read_text() if termination.exists() else ""


def _config(world: Path, model: str, dataset: str, fmt: str = "jsonl") -> dict[str, Any]:
    volume = world / "volume"
    config = llm_run_config(volume / model, volume / dataset, fmt=fmt, epochs=1)
    config["dataRoot"] = str(volume)
    return config


CASES = [
    pytest.param("models/tiny", "links/secret.csv", "csv", EXIT_CONFIGURATION_ERROR, "dataset source",
                 id="dataset-is-a-link-out-of-the-volume"),
    pytest.param("models/tiny", "mixed", "jsonl", EXIT_CONFIGURATION_ERROR, "dataset source",
                 id="dataset-folder-holds-a-link-out"),
    pytest.param("links/model", "text/train.jsonl", "jsonl", EXIT_CONFIGURATION_ERROR, "config.baseModel",
                 id="base-model-is-a-link-out"),
    pytest.param("models/tiny", "own/header-is-secret.csv", "csv", EXIT_DATA_ERROR, "header-is-secret.csv:2",
                 id="own-csv-whose-first-line-is-a-secret"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "dataset", "fmt", "exit_code", "names"), CASES)
def test_reads_stay_on_the_volume_and_messages_never_quote_contents(
    world: Path,
    model: str,
    dataset: str,
    fmt: str,
    exit_code: int,
    names: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    code, message = _run(world, dataset.replace("/", "-"), _config(world, model, dataset, fmt), monkeypatch)
    output = capfd.readouterr()
    assert code == exit_code, message
    assert names in message
    for text in (message, output.out, output.err, caplog.text):
        assert SECRET not in text


def test_a_run_inside_the_volume_still_trains(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, message = _run(world, "inside", _config(world, "models/tiny", "text/train.jsonl"), monkeypatch)
    assert code == 0, message
