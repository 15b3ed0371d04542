"""``python -m tensorone_trainer.launch <torchrun arguments>``: torchrun that stops gracefully on SIGTERM.

Kubernetes sends SIGTERM to a pod's main process. When that is ``torchrun``, its agent treats the signal as a
failure: it signals the workers, gives them a fixed 30 s, then kills them and exits non-zero, so a suspended job
would look failed and a long step could be cut off. This launcher runs torchrun as a child and hands SIGTERM
to the workers themselves: they finish their step, checkpoint and exit 0, torchrun sees a successful run and
exits 0, and the pod's grace period (not torchrun's) bounds the wait.

torchrun also turns any worker failure into exit 1, which would hide the trainer's non-retryable exit codes
(bad data, bad config) from the operator; workers record their own code in a file the launcher names, and the
launcher exits with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from tensorone.api.trainer_config import NON_RETRYABLE_EXIT_CODES
from tensorone_trainer.alive import announce_alive
from tensorone_trainer.cli import EXIT_CODE_FILE_ENV

log = logging.getLogger("tensorone_trainer.launch")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; empty elsewhere)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s: %(message)s")
    arguments = sys.argv[1:] if argv is None else argv
    announce_alive()  # the pod's reporting relay serves while this process runs
    exit_code_dir = tempfile.mkdtemp(prefix="tensorone-launch-")
    exit_code_file = Path(exit_code_dir) / "exit-code"
    env = {**os.environ, EXIT_CODE_FILE_ENV: str(exit_code_file)}
    agent = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *arguments], env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        workers = _children(agent.pid)
        log.info("%s: asking %d worker(s) to checkpoint and stop", signal.Signals(signum).name, len(workers))
        for pid in workers or [agent.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = agent.wait()
    recorded = _recorded_exit_code(exit_code_file)
    shutil.rmtree(exit_code_dir, ignore_errors=True)
    if code != 0 and recorded in NON_RETRYABLE_EXIT_CODES:
        return recorded
    return code


def _recorded_exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
