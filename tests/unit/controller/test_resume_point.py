"""What the workers are told to resume from: an exact checkpoint for a user's resume, the newest on the volume
after a crash (the status may name one the trainer has since pruned for newer ones)."""

from __future__ import annotations

from tensorone.api.status import TrainingJobStatus
from tensorone.controller.reconcile import trainer_resume_point


def test_a_retry_after_a_failure_resumes_from_the_newest_checkpoint_on_the_volume() -> None:
    status = TrainingJobStatus(resumed_from="ckpt_step_20", failed_attempts=1)
    assert trainer_resume_point(status) == "latest"


def test_a_users_resume_names_its_checkpoint_exactly() -> None:
    assert trainer_resume_point(TrainingJobStatus(resumed_from="ckpt_step_5")) == "ckpt_step_5"


def test_a_first_attempt_or_a_retry_with_no_checkpoint_starts_from_scratch() -> None:
    assert trainer_resume_point(TrainingJobStatus()) is None
    assert trainer_resume_point(TrainingJobStatus(failed_attempts=1)) is None
