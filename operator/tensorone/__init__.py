"""TensorOne Training: a managed training platform for Kubernetes.

The import package of the control plane: the contract (``tensorone.api``), the GPU catalog and estimator,
the operator, the REST facade, the SDK, the CLI and the local sandbox. The light ``tensorone-sdk``
distribution (sdks/python) ships the contract, the catalog, the SDK and the CLI's client commands alone.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real types for type checkers; at run time the imports below are lazy
    from tensorone.sdk.async_client import AsyncTensorOneClient
    from tensorone.sdk.client import TensorOneClient

__all__ = ["AsyncTensorOneClient", "TensorOneClient", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Lazy, so that importing tensorone (the operator, the trainer) does not import the SDK's httpx client.
    if name == "TensorOneClient":
        from tensorone.sdk.client import TensorOneClient

        return TensorOneClient
    if name == "AsyncTensorOneClient":
        from tensorone.sdk.async_client import AsyncTensorOneClient

        return AsyncTensorOneClient
    raise AttributeError(f"module 'tensorone' has no attribute {name!r}")
