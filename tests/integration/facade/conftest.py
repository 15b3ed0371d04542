"""One sandbox with the facade in front of it for the whole directory; a fresh account per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tensorone.facade.testing import RunningFacade, running_facade
from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tests.integration.facade.harness import Account, Cluster, new_account

GPUS = "a100=8,h100=2"


@pytest.fixture(scope="package")
def cluster_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with running_sandbox(tmp_path_factory.mktemp("facade") / "sandbox", gpus=GPUS) as running:
        yield running


@pytest.fixture(scope="package")
def facade(cluster_sandbox: RunningSandbox) -> Iterator[RunningFacade]:
    with running_facade(
        str(cluster_sandbox.kubeconfig_path),
        rate_limit_per_second=10_000,
        rate_limit_burst=10_000,
        client_rate_limit_per_second=10_000,
        client_rate_limit_burst=10_000,
    ) as running:
        yield running


@pytest.fixture(scope="package")
def cluster(cluster_sandbox: RunningSandbox) -> Cluster:
    return Cluster(cluster_sandbox)


@pytest.fixture
def alice(facade: RunningFacade) -> Account:
    return new_account(facade, "alice")


@pytest.fixture
def bob(facade: RunningFacade) -> Account:
    return new_account(facade, "bob")
