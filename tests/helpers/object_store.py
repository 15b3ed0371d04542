"""A local S3-compatible server for tests: moto in server mode, started as a process of its own.

moto (and the botocore it is built on) cannot share an environment with the platform's pinned kubernetes client
(their python-dateutil pins conflict), so it is installed on its own (``make s3-stand-in`` makes ``.venv-moto``);
``TENSORONE_MOTO_SERVER`` may name its ``moto_server`` instead, and an environment that has moto importable uses it
directly. The server's request log (werkzeug's access lines on its stderr) is how tests see what was fetched.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tensorone.facade.testing import free_port

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "test-access-key-id"
SECRET_KEY = "test-secret-key-do-not-log-7f3a"


def moto_command() -> list[str]:
    configured = os.environ.get("TENSORONE_MOTO_SERVER")
    if configured:
        return [configured]
    isolated = REPO / ".venv-moto" / "bin" / "moto_server"
    if isolated.exists():
        return [str(isolated)]
    if importlib.util.find_spec("moto") is not None:
        return [sys.executable, "-m", "moto.server"]
    raise RuntimeError("no moto server: run `make s3-stand-in` (or set TENSORONE_MOTO_SERVER)")


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    log: Path

    def requests(self) -> list[str]:
        """The request lines the server logged so far (``GET /bucket/key HTTP/1.1``)."""
        text = re.sub(
            r"\x1b\[[0-9;]*m", "", self.log.read_text(errors="replace")
        )  # werkzeug colours some lines
        lines = text.splitlines()
        return [line.split('"')[1] for line in lines if line.count('"') >= 2 and "HTTP/1.1" in line]

    def gets_of(self, bucket: str, key: str) -> int:
        wanted = f"GET /{bucket}/{key} "
        return sum(1 for r in self.requests() if r.startswith(wanted))

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Create the bucket if needed and store an object (moto accepts unsigned requests)."""
        with httpx.Client(base_url=self.endpoint, timeout=10) as http:
            http.put(f"/{bucket}")
            http.put(f"/{bucket}/{key}", content=body).raise_for_status()

    def environment(self) -> dict[str, str]:
        """What the source credentials Secret holds for this store (the AWS tools' variable names)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def secret_data(self) -> dict[str, str]:
        return {k: base64.b64encode(v.encode()).decode() for k, v in self.environment().items()}


@contextmanager
def running_object_store(directory: Path, host: str = "127.0.0.1") -> Iterator[ObjectStore]:
    """moto's server on ``host`` (pods reach the sandbox's bridge gateway, not 127.0.0.1)."""
    port = free_port()
    log = directory / f"moto-{port}.log"
    out = log.open("wb")
    process = subprocess.Popen(
        [*moto_command(), "-H", host, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out.close()
    endpoint = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield ObjectStore(endpoint, log)
    finally:
        process.terminate()
        process.wait(10)
