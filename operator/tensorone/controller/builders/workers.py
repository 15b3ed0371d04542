"""Worker pods: one per worker, ``torchrun`` with a static rendezvous on worker 0.

The operator owns the pod lifecycle (``restartPolicy: Never``): a failed pod is never restarted in place, the
whole attempt is replaced, so every worker of an attempt starts from the same checkpoint.
"""

from __future__ import annotations

from typing import Any

from tensorone.api import names
from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.dataset import DatasetSpec
from tensorone.api.reporting import (
    REPORT_AUDIENCE,
    REPORT_CA_ENV,
    REPORT_TOKEN_DIR,
    REPORT_TOKEN_ENV,
    REPORT_TOKEN_FILE,
    REPORT_TOKEN_PATH,
    REPORT_TOKEN_SECONDS,
    REPORT_URL_ENV,
    relay_url,
)
from tensorone.api.sources import HUB_CACHE_DIR, is_fetched, is_hub_model
from tensorone.api.spec import AnyJobSpec, CustomJobSpec, LlmJobSpec, VisionJobSpec
from tensorone.api.trainer_config import RUN_CONFIG_ENV
from tensorone.catalog.gpus import GPU_PRODUCT_LABEL, GPU_RESOURCE
from tensorone.controller.builders.context import JobContext
from tensorone.controller.builders.support import RUN_CONFIG_KEY
from tensorone.controller.settings import OperatorSettings

TERMINATION_MESSAGE_PATH = "/dev/termination-log"
_CONFIG_VOLUME = "job-config"
_CHECKPOINT_VOLUME = "checkpoints"
_DATASET_VOLUME = "datasets"
_REPORT_TOKEN_VOLUME = "report-token"


def trainer_arguments(ctx: JobContext, resume_from: str | None) -> list[str]:
    """``run …`` as the trainer CLI takes it (output and checkpoints on the job's volume)."""
    args = ["run", "--output", f"{ctx.job_dir}/{names.ARTIFACTS_DIR}", "--checkpoint-dir", ctx.job_dir]
    if resume_from:
        args += ["--resume-from", resume_from]
    return args


def launcher_arguments(ctx: JobContext, index: int) -> list[str]:
    """``torchrun`` flags (through the trainer's launcher): one node per worker, one process per GPU, rendezvous at
    worker 0."""
    spec = ctx.spec
    # The trainer's launcher is torchrun that stops gracefully on SIGTERM and keeps the trainer's exit codes.
    args = [
        "python",
        "-m",
        "tensorone_trainer.launch",
        f"--nnodes={spec.max_workers}",
        f"--node-rank={index}",
        f"--nproc-per-node={spec.gpus_per_worker}",
        f"--max-restarts={ctx.settings.max_restarts}",
    ]
    if spec.max_workers == 1:
        return [*args, "--standalone"]
    master = f"{names.worker_hostname(0)}.{names.service_name(ctx.name)}.{ctx.namespace}.svc"
    return [*args, f"--master-addr={master}", f"--master-port={ctx.settings.rendezvous_port}"]


def worker_command(ctx: JobContext, index: int, resume_from: str | None) -> tuple[str, list[str]]:
    """(image, argv) of worker ``index``."""
    spec = ctx.spec
    trainer = trainer_arguments(ctx, resume_from)
    if isinstance(spec, CustomJobSpec) and spec.config.image and spec.config.command:
        return spec.config.image, list(spec.config.command)
    if ctx.settings.trainer_command:
        return ctx.settings.trainer_image, [*ctx.settings.trainer_command, *trainer]
    return ctx.settings.trainer_image, [*launcher_arguments(ctx, index), "-m", "tensorone_trainer", *trainer]


def _volumes(ctx: JobContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = ctx.settings
    volumes: list[dict[str, Any]] = [
        {"name": _CONFIG_VOLUME, "configMap": {"name": names.config_map_name(ctx.name)}},
        {
            "name": _CHECKPOINT_VOLUME,
            "persistentVolumeClaim": {"claimName": names.checkpoint_claim_name(ctx.name)},
        },
    ]
    mounts: list[dict[str, Any]] = [
        {"name": _CONFIG_VOLUME, "mountPath": settings.config_mount_path, "readOnly": True},
        {"name": _CHECKPOINT_VOLUME, "mountPath": settings.checkpoint_mount_path},
    ]
    if settings.dataset_volume_claim:
        volumes.append(
            {
                "name": _DATASET_VOLUME,
                "persistentVolumeClaim": {"claimName": settings.dataset_volume_claim, "readOnly": True},
            }
        )
        mounts.append({"name": _DATASET_VOLUME, "mountPath": DATA_VOLUME_MOUNT_PATH, "readOnly": True})
    return volumes, mounts


def _report_token_volume() -> dict[str, Any]:
    # Workers run user code, so they hold no Kubernetes API credential: automounting is off and the only token is
    # projected for the reporting audience (bound to the pod, short-lived). kube-apiserver accepts only its own
    # audience, so this token cannot call the API; the operator's report endpoint checks it with a TokenReview.
    return {
        "name": _REPORT_TOKEN_VOLUME,
        "projected": {
            "defaultMode": 0o444,
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": REPORT_AUDIENCE,
                        "path": REPORT_TOKEN_FILE,
                        "expirationSeconds": REPORT_TOKEN_SECONDS,
                    }
                }
            ],
        },
    }


def build_report_relay_container(settings: OperatorSettings, report_url: str) -> dict[str, Any]:
    """The pod's reporting relay: the only container that mounts the reporting token.

    User code runs in the trainer container, which sends its reports to this relay on the pod's loopback
    (:func:`tensorone.api.reporting.relay_url`); the relay adds the token and forwards them to ``report_url``. It
    runs as another uid than the trainer, so no process of the trainer's can read its files or memory. With the
    operator's ``reportCaFile`` it verifies the endpoint's certificate against that CA (the PEM in its environment).
    """
    env = [
        {"name": REPORT_URL_ENV, "value": report_url},
        {"name": REPORT_TOKEN_ENV, "value": REPORT_TOKEN_PATH},
    ]
    if settings.report_ca_pem is not None:
        env.append({"name": REPORT_CA_ENV, "value": settings.report_ca_pem})
    return {
        "name": names.REPORT_RELAY_CONTAINER,
        "image": settings.trainer_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "tensorone_trainer.relay"],
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "volumeMounts": [{"name": _REPORT_TOKEN_VOLUME, "mountPath": REPORT_TOKEN_DIR, "readOnly": True}],
        "securityContext": {
            "runAsUser": settings.report_relay_user_id,
            "runAsGroup": settings.report_relay_user_id,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _resources(ctx: JobContext) -> dict[str, Any]:
    amounts: dict[str, str] = {GPU_RESOURCE: str(ctx.spec.gpus_per_worker)}
    if ctx.spec.resources.memory:
        amounts["memory"] = ctx.spec.resources.memory
    return {"requests": dict(amounts), "limits": dict(amounts)}


def build_worker_pod(ctx: JobContext, index: int, attempt: int, resume_from: str | None) -> dict[str, Any]:
    """Worker ``index`` of attempt ``attempt``; the name is the same for every attempt (one pod per worker)."""
    settings = ctx.settings
    spec = ctx.spec
    image, argv = worker_command(ctx, index, resume_from)
    volumes, mounts = _volumes(ctx)
    env = [
        {"name": RUN_CONFIG_ENV, "value": f"{settings.config_mount_path.rstrip('/')}/{RUN_CONFIG_KEY}"},
        {"name": "TENSORONE_ATTEMPT", "value": str(attempt)},
        {"name": "TENSORONE_WORKER_INDEX", "value": str(index)},
        {"name": "TENSORONE_NUM_WORKERS", "value": str(spec.max_workers)},
        {"name": "TENSORONE_TERMINATION_LOG", "value": TERMINATION_MESSAGE_PATH},
        {"name": "TENSORONE_JOB_DIR", "value": ctx.job_dir},
    ]
    if resume_from:
        env.append({"name": "TENSORONE_RESUME_FROM", "value": resume_from})
    if fetches_model(spec, settings):
        # The initializer put the model into the hub cache on the data volume: the trainer loads it by its hub id
        # from there (the code path of any hub id), without reaching the hub.
        env += [{"name": "HF_HUB_CACHE", "value": HUB_CACHE_DIR}, {"name": "HF_HUB_OFFLINE", "value": "1"}]
    if settings.report_url:
        # Reports go through the pod's relay: the trainer container (user code) holds no token.
        env.append({"name": REPORT_URL_ENV, "value": relay_url()})
    labels = {names.ATTEMPT_LABEL: str(attempt), names.WORKER_INDEX_LABEL: str(index)}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostname": names.worker_hostname(index),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": settings.termination_grace_period_seconds,
        # Workers run user code: never as root, no privilege escalation, no capabilities; the volumes are the
        # user's group's (fsGroup), so checkpoints are writable.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.trainer_user_id,
            "runAsGroup": settings.trainer_user_id,
            "fsGroup": settings.trainer_user_id,
        },
        "priorityClassName": settings.priority_class_names[spec.priority],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": list(ctx.gpu_products)}
                            ]
                        }
                    ]
                }
            }
        },
        "tolerations": [dict(t) for t in settings.tolerations],
        "volumes": volumes,
        "containers": [
            {
                "name": names.TRAINER_CONTAINER,
                "image": image,
                "imagePullPolicy": settings.image_pull_policy,
                "command": argv,
                "env": env,
                "resources": _resources(ctx),
                "volumeMounts": mounts,
                "terminationMessagePath": TERMINATION_MESSAGE_PATH,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "ports": [{"name": "rendezvous", "containerPort": settings.rendezvous_port}],
            }
        ],
    }
    if settings.report_url:
        volumes.append(_report_token_volume())
        pod_spec["containers"].append(build_report_relay_container(settings, settings.report_url))
    if spec.max_workers > 1:
        # worker-0.<job>-workers: the rendezvous address, through the headless Service of a multi-worker job.
        pod_spec["subdomain"] = names.service_name(ctx.name)
    if len(ctx.gpu_products) == 1:
        # A single product is also a plain nodeSelector (what most cluster tooling shows).
        pod_spec["nodeSelector"] = {GPU_PRODUCT_LABEL: ctx.gpu_products[0]}
    metadata = ctx.metadata(names.worker_pod_name(ctx.name, index), names.WORKER_COMPONENT, labels)
    metadata["finalizers"] = [names.LOG_ARCHIVE_FINALIZER]
    # `kubectl logs <worker>` (and exec) mean the trainer, not the pod's reporting relay.
    metadata["annotations"] = {"kubectl.kubernetes.io/default-container": names.TRAINER_CONTAINER}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def build_worker_pods(ctx: JobContext, attempt: int, resume_from: str | None) -> list[dict[str, Any]]:
    return [build_worker_pod(ctx, i, attempt, resume_from) for i in range(ctx.spec.max_workers)]


def fetches_model(spec: AnyJobSpec, settings: OperatorSettings) -> bool:
    """An LLM job whose base model is a hub id: the initializer fetches it into the hub cache on the data volume,
    and the workers load it from there, offline."""
    return (
        isinstance(spec, LlmJobSpec)
        and settings.dataset_volume_claim is not None
        and is_hub_model(spec.config.base_model)
    )


def fetches_dataset(dataset: DatasetSpec, settings: OperatorSettings) -> bool:
    return settings.dataset_volume_claim is not None and is_fetched(dataset.source)


def checks_dataset(spec: AnyJobSpec, settings: OperatorSettings) -> bool:
    """LLM and vision jobs: the trainer's readers can check the data before any worker starts. Custom code reads
    its data its own way."""
    return not isinstance(spec, CustomJobSpec) and settings.dataset_volume_claim is not None


def needs_initializer(spec: AnyJobSpec, dataset: DatasetSpec, settings: OperatorSettings) -> bool:
    """Whether an initializer pod runs before the workers: to fetch the dataset or the model, or to check the
    dataset (which is on the data volume, or will be once fetched)."""
    return (
        fetches_dataset(dataset, settings) or fetches_model(spec, settings) or checks_dataset(spec, settings)
    )


def build_initializer_pod(ctx: JobContext) -> dict[str, Any]:
    """A small pod (no GPU, no API credentials, runs only the platform's code) that fetches what the job names
    by URL or hub id into the cache on the data volume, then reads the dataset with the trainer's readers. It
    leaves an ``InitializerReport`` as its termination message, or one sentence (field, URL, cause) with exit 65.

    Why a pod of its own rather than an init container of each worker: it runs once per job however many workers
    there are, no GPU is held (or billed) while it downloads, and a missing source fails the job before any
    worker pod exists.
    """
    settings = ctx.settings
    volumes, mounts = _volumes(ctx)
    keep = {_DATASET_VOLUME}
    fetching = fetches_dataset(ctx.dataset, settings) or fetches_model(ctx.spec, settings)
    # Read only inside the data volume: a symlink there must not lead to another account's files.
    argv = ["python", "-m", "tensorone_trainer.initialize", "--data-root", DATA_VOLUME_MOUNT_PATH]
    argv += ["--dataset", ctx.dataset.source]
    if fetches_model(ctx.spec, settings):
        assert isinstance(ctx.spec, LlmJobSpec)
        argv += ["--model", ctx.spec.config.base_model]
    if checks_dataset(ctx.spec, settings):
        argv += ["--format", str(ctx.dataset.format)]
    if isinstance(ctx.spec, VisionJobSpec) and ctx.spec.config.num_classes is not None:
        argv += ["--num-classes", str(ctx.spec.config.num_classes)]
    container: dict[str, Any] = {
        "name": "initializer",
        "image": settings.trainer_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": argv,
        "env": [{"name": "TENSORONE_TERMINATION_LOG", "value": TERMINATION_MESSAGE_PATH}],
        # The cache is written only by this pod: workers mount the volume read-only.
        "volumeMounts": [{**m, "readOnly": not fetching} for m in mounts if m["name"] in keep],
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if settings.source_credentials_secret and fetching:
        # The client libraries read their own variables (AWS_*, HF_TOKEN, HF_ENDPOINT): the credentials never pass
        # through the operator, the pod spec or a message.
        container["envFrom"] = [{"secretRef": {"name": settings.source_credentials_secret, "optional": True}}]
    metadata = ctx.metadata(names.data_check_pod_name(ctx.name), names.DATA_CHECK_COMPONENT)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "tolerations": [dict(t) for t in settings.tolerations],
            "volumes": [
                {**v, "persistentVolumeClaim": {**v["persistentVolumeClaim"], "readOnly": not fetching}}
                for v in volumes
                if v["name"] in keep
            ],
            "containers": [container],
        },
    }
