"""The whole platform on this machine: ``tensorone sandbox up --with-operator --with-facade`` as a child process.

Used by the demo and the system tests, so both exercise exactly what a person gets from ``make demo-up``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from tensorone.api.accounts import SANDBOX_ACCOUNT, account_namespace
from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.sandbox.runtime import DATASET_CLAIM
from tensorone.sdk.client import TensorOneClient

DEFAULT_ACCOUNT_NAMESPACE = account_namespace(SANDBOX_ACCOUNT)
DATASET_MOUNT = DATA_VOLUME_MOUNT_PATH


class PlatformError(RuntimeError):
    """The platform did not come up (the message says where its logs are)."""


class LocalPlatform:
    """Start the sandbox with operator and facade in ``directory``; stop it, and every process it started, on exit."""

    def __init__(self, directory: Path, *, gpus: str = "a100=4", start_timeout: float = 90.0) -> None:
        self.dir = directory.resolve()
        self.gpus = gpus
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.api_url = ""
        self.api_key = ""
        self._output: list[str] = []

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def dataset_volume(self, namespace: str = DEFAULT_ACCOUNT_NAMESPACE) -> Path:
        """The local folder behind the dataset volume that jobs in ``namespace`` mount at ``/datasets``."""
        return self.dir / "volumes" / namespace / DATASET_CLAIM

    def client(self, timeout: float = 30.0) -> TensorOneClient:
        return TensorOneClient(api_key=self.api_key, base_url=self.api_url, timeout=timeout)

    def __enter__(self) -> LocalPlatform:
        self.dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "tensorone", "sandbox", "up", "--dir", str(self.dir)]
        command += ["--gpus", self.gpus, "--with-operator", "--with-facade"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(ready,), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PlatformError(
                    f"the sandbox did not become ready; output:\n{''.join(self._output)[-4000:]}"
                    f"\nlogs: {self.dir}/operator.log, {self.dir}/facade.log"
                )
        self.api_url = (self.dir / "api-url").read_text().strip()
        self.api_key = (self.dir / "api-key").read_text().strip()
        return self

    def _read_output(self, ready: threading.Event) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            if line.startswith("ready"):
                ready.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Interrupt the sandbox (it stops operator, facade and pods), SIGKILL its session if it hangs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
