"""Fixtures shared by integration tests: sandbox clusters reachable over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tensorone.sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A fresh sandbox (API server, one a100 node with 8 GPUs, scheduler, agent) per test.

    Use ``sandbox.url``, ``sandbox.kubeconfig_path`` (kubectl, kopf, kubernetes client) and ``sandbox.dir``.
    """
    with running_sandbox(tmp_path / "sandbox") as running:
        yield running


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes with options, e.g. ``sandbox_factory(gpus="a100=8,h100=2")``; all stop after the test."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(1000))

        def start(**options: Any) -> RunningSandbox:
            return stack.enter_context(running_sandbox(tmp_path / f"sandbox-{next(counter)}", **options))

        yield start
