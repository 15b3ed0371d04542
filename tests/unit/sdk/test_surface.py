"""``AsyncTensorOneClient`` offers what ``TensorOneClient`` offers, with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from tensorone.sdk.async_client import AsyncDatasets, AsyncJobs, AsyncTensorOneClient
from tensorone.sdk.client import Datasets, Jobs, TensorOneClient


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("sync", "asynchronous"),
    [(Jobs, AsyncJobs), (Datasets, AsyncDatasets), (TensorOneClient, AsyncTensorOneClient)],
    ids=["jobs", "datasets", "client"],
)
def test_the_async_client_has_the_same_methods_and_parameters(sync: type, asynchronous: type) -> None:
    sync_methods, async_methods = _public(sync), _public(asynchronous)
    assert sorted(async_methods) == sorted(sync_methods)
    for name, signature in sync_methods.items():
        assert list(async_methods[name].parameters) == list(signature.parameters), name
        assert [p.default for p in async_methods[name].parameters.values()] == [
            p.default for p in signature.parameters.values()
        ], name
