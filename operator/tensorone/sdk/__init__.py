"""The Python SDK: ``TensorOneClient`` and ``AsyncTensorOneClient`` with typed jobs and datasets, typed
exceptions per error code."""

from tensorone.sdk.async_client import AsyncTensorOneClient
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import TensorOneError

__all__ = ["AsyncTensorOneClient", "TensorOneClient", "TensorOneError"]
