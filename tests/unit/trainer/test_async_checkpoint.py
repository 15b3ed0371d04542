"""Background checkpoint saves: the loop goes on while the writer writes, a checkpoint is reported only once it
is in place, a failed write surfaces in the loop, and the copy handed over shares nothing with live state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tensorone_trainer.async_checkpoint import CheckpointWriter, background_saves_pay, cpu_copy
from tensorone_trainer.checkpoints import CheckpointStore


def _submit(writer: CheckpointWriter, step: int, write: Callable[[Path], None]) -> None:
    writer.submit(
        f"ckpt_step_{step}",
        snapshot=lambda: write,
        epoch=0,
        step=step,
        loss=1.0,
        eval_loss=None,
        attempt=None,
    )


def test_the_loop_goes_on_while_the_write_runs_and_the_checkpoint_appears_only_when_complete(
    tmp_path: Path,
) -> None:
    release = threading.Event()

    def slow_write(folder: Path) -> None:
        (folder / "weights.bin").write_bytes(b"state")
        assert release.wait(timeout=30)

    writer = CheckpointWriter(CheckpointStore(tmp_path), background=True)
    _submit(writer, 3, slow_write)  # returns while the write is blocked
    assert writer.completed() == []
    assert not (tmp_path / "ckpt_step_3").exists()  # only the temporary folder so far
    release.set()
    writer.wait()
    [saved] = writer.completed()
    assert saved.manifest.id == "ckpt_step_3"
    assert [c.id for c in saved.checkpoints] == ["ckpt_step_3"]
    assert (tmp_path / "ckpt_step_3" / "manifest.json").is_file()
    assert writer.completed() == []  # each save is collected once
    writer.close()


def test_a_new_save_waits_for_the_one_in_flight_so_saves_land_in_order(tmp_path: Path) -> None:
    order: list[int] = []
    writer = CheckpointWriter(CheckpointStore(tmp_path), background=True)

    def recorder(step: int) -> Callable[[Path], None]:
        def write(folder: Path) -> None:
            order.append(step)

        return write

    for step in (1, 2, 3):
        _submit(writer, step, recorder(step))
    writer.close()
    assert order == [1, 2, 3]
    assert [s.manifest.step for s in writer.completed()] == [1, 2, 3]


def test_the_next_copy_of_the_state_is_taken_only_once_the_save_in_flight_is_written(tmp_path: Path) -> None:
    # The copy must not compete with a write for the cores and the GIL: it waits, and that wait is the stall.
    events: list[str] = []

    def slow_write(folder: Path) -> None:
        time.sleep(0.2)
        events.append("first written")

    def snapshot() -> Callable[[Path], None]:
        events.append("second copied")
        return lambda folder: None

    writer = CheckpointWriter(CheckpointStore(tmp_path), background=True)
    _submit(writer, 1, slow_write)
    writer.submit("ckpt_step_2", snapshot=snapshot, epoch=0, step=2, loss=1.0, eval_loss=None, attempt=None)
    writer.close()
    assert events == ["first written", "second copied"]
    assert writer.waited_seconds > 0


def test_a_failed_background_write_is_raised_in_the_loop_and_leaves_no_checkpoint(tmp_path: Path) -> None:
    def failing_write(folder: Path) -> None:
        raise OSError("disk full")

    writer = CheckpointWriter(CheckpointStore(tmp_path), background=True)
    _submit(writer, 4, failing_write)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert CheckpointStore(tmp_path).manifests() == []


def test_inline_saves_are_complete_when_submit_returns(tmp_path: Path) -> None:
    writer = CheckpointWriter(CheckpointStore(tmp_path), background=False)

    def write(folder: Path) -> None:
        (folder / "w.bin").write_bytes(b"x")

    _submit(writer, 2, write)
    assert (tmp_path / "ckpt_step_2" / "manifest.json").is_file()
    assert [s.manifest.id for s in writer.completed()] == ["ckpt_step_2"]


def test_the_copy_handed_to_the_writer_does_not_change_when_training_does() -> None:
    weight = torch.zeros(3)
    optimizer_state: dict[str, Any] = {
        "state": {0: {"exp_avg": torch.ones(2), "step": torch.tensor(5.0)}},
        "groups": [{"lr": 0.1}],
    }
    copied = cpu_copy({"w": weight, "optimizer": optimizer_state})
    weight.add_(1.0)  # what the next optimizer step does, in place
    optimizer_state["state"][0]["exp_avg"].mul_(3.0)
    optimizer_state["groups"][0]["lr"] = 0.5
    assert torch.equal(copied["w"], torch.zeros(3))
    assert torch.equal(copied["optimizer"]["state"][0]["exp_avg"], torch.ones(2))
    assert copied["optimizer"]["groups"][0]["lr"] == 0.1


@pytest.mark.parametrize(
    ("requested", "on_gpu", "threads", "cores", "background"),
    [
        (None, True, 16, 16, True),  # GPU: the steps run on the device, the host's cores are free
        (None, False, 1, 2, True),  # CPU with a core left for the writer
        (None, False, 2, 2, False),  # every core training: the writer would slow the steps down
        (True, False, 2, 2, True),  # set: obeyed
        (False, True, 1, 16, False),
    ],
    ids=["gpu", "cpu-spare-core", "cpu-all-cores", "forced-on", "forced-off"],
)
def test_background_saves_are_chosen_where_a_core_is_free_for_the_writer(
    requested: bool | None, on_gpu: bool, threads: int, cores: int, background: bool
) -> None:
    assert (
        background_saves_pay(requested, on_gpu=on_gpu, training_threads=threads, usable_cores=cores)
        is background
    )
