"""Pure builders: a parsed job in, Kubernetes manifests out. No I/O; tested without a server."""

from tensorone.controller.builders.context import JobContext
from tensorone.controller.builders.support import (
    build_checkpoint_claim,
    build_config_map,
    build_headless_service,
    build_logs_config_map,
    build_run_config,
    build_support_objects,
)
from tensorone.controller.builders.workers import (
    build_initializer_pod,
    build_worker_pod,
    build_worker_pods,
    needs_initializer,
)

__all__ = [
    "JobContext",
    "build_checkpoint_claim",
    "build_config_map",
    "build_headless_service",
    "build_initializer_pod",
    "build_logs_config_map",
    "build_run_config",
    "build_support_objects",
    "build_worker_pod",
    "build_worker_pods",
    "needs_initializer",
]
