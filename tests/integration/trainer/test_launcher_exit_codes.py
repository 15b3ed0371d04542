"""Under the launcher (torchrun inside), the operator still sees the trainer's non-retryable exit codes.

torchrun itself reports any worker failure as exit 1; without the launcher's help a malformed dataset would look
like a crash and be retried until the backoff limit, and the user would never read which line was bad.
"""

from __future__ import annotations

from pathlib import Path

from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tests.helpers.tiny_models import build_tiny_llama, llm_run_config, run_trainer, write_text_dataset


def test_bad_data_under_the_launcher_exits_with_the_data_error_code_and_names_file_and_line(
    tmp_path: Path,
) -> None:
    model = build_tiny_llama(tmp_path / "model")
    data = write_text_dataset(tmp_path / "train.jsonl", n=8)
    lines = data.read_text().splitlines()
    lines[2] = "{not json"
    data.write_text("\n".join(lines) + "\n")
    message = tmp_path / "termination-log"
    result = run_trainer(
        llm_run_config(model, data), tmp_path / "out", nproc=2, TENSORONE_TERMINATION_LOG=str(message)
    )
    assert result.returncode == EXIT_DATA_ERROR, result.stderr[-2000:]
    assert "train.jsonl:3:" in message.read_text()
