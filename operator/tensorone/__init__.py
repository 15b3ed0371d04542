"""TensorOne Training: a managed training platform for Kubernetes.

The import package of the control plane: the contract (``tensorone.api``), the GPU catalog and estimator,
the operator, the REST facade, the SDK, the CLI and the local sandbox.
"""

__version__ = "0.1.0"
