"""What the trainer tells a person: one progress line per logging step, where its results are, why it crashed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tensorone.api.status import TRAINER_STATUS_FIELDS
from tensorone_trainer.artifacts import describe_artifacts
from tensorone_trainer.cli import crash_message
from tensorone_trainer.reporting.base import LOG_LINES, Reporter, StatusSnapshot


class Keep:
    def __init__(self) -> None:
        self.snapshots: list[StatusSnapshot] = []

    def publish(self, snapshot: StatusSnapshot) -> None:
        self.snapshots.append(snapshot)

    def close(self) -> None:
        pass


def _reporter(total_steps: int) -> tuple[Reporter, Keep]:
    sink = Keep()
    reporter = Reporter(
        [sink], total_epochs=2, total_steps=total_steps, throughput_unit="tokens", device=torch.device("cpu")
    )
    return reporter, sink


def test_each_logged_step_is_one_line_with_loss_lr_throughput_and_eta(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter, _ = _reporter(total_steps=4)
    with caplog.at_level(logging.INFO, logger="tensorone_trainer.reporting.base"):
        for step in range(1, 5):
            reporter.step(step=step, epoch=step / 2, loss=2.0 / step, learning_rate=1e-4, throughput=1250.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert lines[1].startswith("step 2/4 epoch 1.00/2 loss 1.0000 lr 1.00e-04 1250 tokens/sec ETA 0:00:")


def test_a_long_run_logs_about_a_hundred_lines_not_one_per_step(caplog: pytest.LogCaptureFixture) -> None:
    reporter, _ = _reporter(total_steps=1000)
    with caplog.at_level(logging.INFO, logger="tensorone_trainer.reporting.base"):
        for step in range(1, 1001):
            reporter.step(step=step, epoch=step / 500, loss=1.0, learning_rate=None, throughput=None)
    assert LOG_LINES <= len(caplog.records) <= LOG_LINES + 2


def test_the_outputs_are_reported_with_path_and_size(tmp_path: Path) -> None:
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"x" * 2500)
    (tmp_path / "best.pt").write_bytes(b"y" * 100)
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    artifacts = describe_artifacts(tmp_path)
    assert [(a.name, a.kind, a.size_bytes, a.size) for a in artifacts] == [
        ("adapter", "folder", 2500, "2.5KB"),
        ("best", "file", 100, "100B"),
    ]
    assert artifacts[0].path == str((tmp_path / "adapter").resolve())
    reporter, sink = _reporter(total_steps=1)
    reporter.artifacts_written(artifacts)
    reporter.close(completed=True)
    patch = sink.snapshots[-1].to_status_patch()
    assert "artifacts" in TRAINER_STATUS_FIELDS
    assert [a["name"] for a in patch["artifacts"]] == ["adapter", "best"]


def test_a_crash_is_told_by_exception_and_place() -> None:
    def inner() -> None:
        raise OSError("[Errno 98] Address already in use")

    try:
        inner()
    except OSError as e:
        message = crash_message(e)
    assert message.startswith("OSError at test_run_story.py:")
    assert message.endswith("(in inner): [Errno 98] Address already in use")


def test_the_dataset_check_summarises_good_data_and_names_the_bad_line(tmp_path: Path) -> None:
    from tensorone.api.dataset import DatasetFormat
    from tensorone_trainer.check_dataset import check
    from tensorone_trainer.errors import DataError

    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "one"}\n\n{"text": "two"}\n{"text": "three"}\n')
    found = check(good, DatasetFormat.JSONL)
    assert (found.num_examples, found.size_bytes) == (3, good.stat().st_size)
    assert (found.first, found.last) == (f"{good}:1", f"{good}:4")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "one"}\n{"prompt": "p", "completion": "c"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: expected field 'text' like the first record$"):
        check(bad, DatasetFormat.JSONL)
    with pytest.raises(DataError, match=r"missing\.jsonl: dataset not found$"):
        check(tmp_path / "missing.jsonl", DatasetFormat.JSONL)
