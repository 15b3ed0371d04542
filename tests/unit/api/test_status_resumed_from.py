"""The operator records which checkpoint the current attempt resumes from, so a restart picks the same one."""

from tensorone.api.status import TrainingJobStatus


def test_resumed_from_round_trips_through_the_wire_name() -> None:
    status = TrainingJobStatus.model_validate({"attempts": 2, "resumedFrom": "ckpt_epoch_1"})
    assert status.resumed_from == "ckpt_epoch_1"
    assert status.to_wire()["resumedFrom"] == "ckpt_epoch_1"
