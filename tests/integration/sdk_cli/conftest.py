"""The SDK and CLI against a running facade in front of the sandbox (fixtures shared with the facade tests)."""

from __future__ import annotations

import pytest

from tensorone.facade.testing import RunningFacade
from tests.integration.facade.conftest import cluster, cluster_sandbox, facade
from tests.integration.facade.harness import Account, new_account

__all__ = ["cluster", "cluster_sandbox", "facade"]


@pytest.fixture
def alice(facade: RunningFacade) -> Account:
    return new_account(facade, "sdk")


@pytest.fixture
def env(alice: Account, facade: RunningFacade, monkeypatch: pytest.MonkeyPatch) -> Account:
    """The account's key and the facade's URL in TENSORONE_API_KEY / TENSORONE_BASE_URL."""
    monkeypatch.setenv("TENSORONE_API_KEY", alice.key)
    monkeypatch.setenv("TENSORONE_BASE_URL", facade.url)
    return alice
