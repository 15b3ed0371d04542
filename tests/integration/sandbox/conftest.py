"""Fixtures of the sandbox contract tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tensorone.sandbox.testing import RunningSandbox
from tests.integration.sandbox.helpers import WIDGET_CRD, WIDGETS, Api


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[Api]:
    """An HTTP client bound to the sandbox."""
    client = Api(sandbox.url)
    yield client
    client.client.close()


@pytest.fixture
def widgets(api: Api) -> str:
    """The Widget CRD registered through the API; returns the collection path in namespace default."""
    response = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)
    assert response.status_code == 201, response.text
    return WIDGETS
