"""The Python SDK: ``TensorOneClient`` with typed jobs and datasets, typed exceptions per error code."""

from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import TensorOneError

__all__ = ["TensorOneClient", "TensorOneError"]
