"""The objects around the workers: headless Service (several workers only), job-config ConfigMap and checkpoint PVC.

No per-job ServiceAccount or RBAC: workers hold no Kubernetes API credential; they report to the operator
(:mod:`tensorone.api.reporting`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from tensorone.api import names
from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.ids import name_to_id
from tensorone.api.sources import local_dataset_path
from tensorone.api.spec import LlmJobSpec
from tensorone.api.trainer_config import (
    AnyRunConfig,
    CheckpointPolicy,
    StatusTarget,
    TrainerDataset,
    TrainerRunConfig,
)
from tensorone.controller.builders.context import JobContext

RUN_CONFIG_KEY = "job.json"
_RUN_CONFIG_ADAPTER: TypeAdapter[AnyRunConfig] = TypeAdapter(TrainerRunConfig)


def build_run_config(ctx: JobContext) -> AnyRunConfig:
    """What the trainer reads: the job's config, the dataset path (as mounted, or where its URL was fetched to) and
    where to report."""
    save_every = ctx.spec.config.training.save_every_steps if isinstance(ctx.spec, LlmJobSpec) else None
    return _RUN_CONFIG_ADAPTER.validate_python(
        {
            "jobId": name_to_id(ctx.name),
            "dataRoot": DATA_VOLUME_MOUNT_PATH,
            "modelType": str(ctx.spec.model_type),
            "config": ctx.spec.config.model_dump(mode="json", by_alias=True, exclude_none=True),
            # A fetched source is read from its copy in the cache, through the code path of a volume path.
            "dataset": TrainerDataset(
                path=local_dataset_path(ctx.dataset.source), format=ctx.dataset.format
            ).to_wire(),
            "checkpoint": CheckpointPolicy(save_every_steps=save_every).to_wire(),
            "statusTarget": StatusTarget(namespace=ctx.namespace, name=ctx.name).to_wire(),
            "reportIntervalSeconds": ctx.settings.report_interval_seconds,
        }
    )


def build_config_map(ctx: JobContext) -> dict[str, Any]:
    run_config = build_run_config(ctx)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(names.config_map_name(ctx.name), "config"),
        "data": {RUN_CONFIG_KEY: json.dumps(run_config.to_wire(), sort_keys=True, indent=2)},
    }


def build_headless_service(ctx: JobContext) -> dict[str, Any]:
    """Gives worker 0 a stable DNS name (``worker-0.<job>-workers``) for the rendezvous."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(names.service_name(ctx.name), "workers"),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {names.JOB_LABEL: ctx.name, names.COMPONENT_LABEL: names.WORKER_COMPONENT},
            "ports": [{"name": "rendezvous", "port": ctx.settings.rendezvous_port}],
        },
    }


def build_checkpoint_claim(ctx: JobContext) -> dict[str, Any]:
    """Shared by all workers (ReadWriteMany when there are several), so any worker can resume any checkpoint.
    Kept when the job is deleted, unless the deletion asks to purge checkpoints."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany" if ctx.spec.max_workers > 1 else "ReadWriteOnce"],
        "resources": {"requests": {"storage": ctx.spec.resources.storage or ctx.settings.checkpoint_size}},
    }
    if ctx.settings.checkpoint_storage_class:
        spec["storageClassName"] = ctx.settings.checkpoint_storage_class
    metadata = ctx.metadata(names.checkpoint_claim_name(ctx.name), names.CHECKPOINTS_COMPONENT)
    # Not owned by the job: checkpoints outlive it (a deleted job keeps them unless purged, which the operator
    # does itself on deletion). Labels still tie the claim to its job.
    del metadata["ownerReferences"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}


def build_support_objects(ctx: JobContext) -> list[dict[str, Any]]:
    """Everything but the pods, in the order they must exist before the pods start. No headless Service for a
    single worker: it runs torchrun ``--standalone`` and nothing resolves its name."""
    return [
        build_config_map(ctx),
        build_checkpoint_claim(ctx),
        *([build_headless_service(ctx)] if ctx.spec.max_workers > 1 else []),
    ]


def build_logs_config_map(ctx: JobContext, attempt: int, logs: dict[int, str]) -> dict[str, Any]:
    """Worker logs of a finished attempt, kept after the pods are gone (and after the TTL cleanup)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(
            names.logs_config_map_name(ctx.name, attempt),
            names.LOGS_COMPONENT,
            {names.ATTEMPT_LABEL: str(attempt)},
        ),
        "data": {names.worker_log_key(index): text for index, text in sorted(logs.items())},
    }
