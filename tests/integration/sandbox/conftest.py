"""Fixtures of the sandbox tests: one sandbox per module, a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tests.integration.sandbox.helpers import Api


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox (control plane, one a100 node with 8 GPUs, kubelet) shared by the tests of a module."""
    directory: Path = tmp_path_factory.mktemp("sandbox")
    with running_sandbox(directory) as running:
        yield running


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[Api]:
    """An admin API client working in a namespace of its own; the namespace's pods are gone after the test."""
    client = Api(sandbox, f"t-{uuid.uuid4().hex[:8]}")
    client.create_namespace()
    yield client
    client.delete_namespace()
    client.client.close()
