"""Fixtures shared by integration tests: a running sandbox cluster reachable over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorone.sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A fresh sandbox (API server, one a100 node with 8 GPUs, scheduler, agent) per test.

    Use ``sandbox.url``, ``sandbox.kubeconfig_path`` (kubectl, kopf, kubernetes client) and ``sandbox.dir``.
    """
    with running_sandbox(tmp_path / "sandbox") as running:
        yield running
