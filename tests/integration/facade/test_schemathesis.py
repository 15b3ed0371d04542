"""Property-based fuzzing of the OpenAPI document (in-process ASGI, facade talking to the sandbox):
no 5xx, and every answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tensorone.facade.app import create_app
from tensorone.facade.settings import Settings
from tensorone.facade.testing import RunningFacade
from tests.integration.facade.harness import new_account

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_target(facade: RunningFacade) -> Iterator[tuple[Any, dict[str, str]]]:
    account = new_account(facade, "fuzz")
    account.dataset()
    app = create_app(
        Settings.from_env(
            kubeconfig=facade.settings.kubeconfig, rate_limit_burst=100_000, client_rate_limit_burst=100_000
        )
    )
    return app, {"Authorization": f"Bearer {account.key}"}


def test_api_conforms_to_its_openapi_document(fuzz_target: tuple[Any, dict[str, str]]) -> None:
    app, headers = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 15
