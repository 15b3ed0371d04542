"""Downloads of a finished job's artifacts (``GET …/jobs/{id}/artifacts/{name}``), the Kubernetes way.

The artifacts lie on the job's checkpoint volume, which the facade does not mount (it serves every account, and a
volume can be attached to one node only). So, as Kubeflow's PVC viewer does, the facade starts a small pod in the
job's namespace that mounts that volume read-only and serves nothing but the job's artifacts folder
(``tensorone_trainer.serve_artifacts``), and streams from it through the API server's pod proxy: the API server
authenticates and authorises the facade (``pods/proxy``), no Service or port of the reader is exposed, and the
facade needs no network path of its own to the pods.

Confinement: only an artifact the job's status lists can be asked for, by its name; what reaches the reader is one
path segment taken from that listed path (never text from the request), checked against a strict pattern; the
reader resolves it inside the volume it mounts read-only; the reader holds no API credential and runs as the
workers' non-root user with no capabilities. The reader is owned by the job (deleted with it) and exits after
``reader_idle_seconds`` without a download; the next download starts it again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from tensorone.api import names
from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode
from tensorone.api.resources import TrainingJobResource
from tensorone.api.spec import API_GROUP, API_VERSION
from tensorone.api.status import FINISHED_PHASES, Artifact
from tensorone.api.translate import job_id, job_status
from tensorone.facade.kube import PODS, KubeClient, KubeError
from tensorone.facade.settings import Settings

READER_PORT = 8080
# Where the reader mounts the checkpoint volume (the workers' mount path is the operator's setting, not needed here).
READER_VOLUME_PATH = "/checkpoints"
_VOLUME = "checkpoints"
_ENTRY = re.compile(names.ARTIFACT_ENTRY_PATTERN)
# The names the trainer reports (status.Artifact.name); a request for anything else is refused before any lookup.
_NAME = re.compile(names.ARTIFACT_NAME_PATTERN)
_POLL_SECONDS = 0.2


def listed_artifact(job: TrainingJobResource, name: str) -> Artifact:
    """The artifact ``name`` of a finished ``job``; the API's error when the name, the job's state or the listing
    says no."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError.single("name", "an artifact name: lowercase letters, digits and '-'")
    if job.status.phase not in FINISHED_PHASES:
        raise ApiError(
            ErrorCode.INVALID_STATE,
            "Artifacts can be downloaded once the job has finished",
            {"status": job_status(job)},
        )
    for artifact in job.status.artifacts:
        if artifact.name == name:
            return artifact
    raise ApiError(
        ErrorCode.ARTIFACT_NOT_FOUND,
        details={
            "jobId": job_id(job),
            "artifact": name,
            "availableArtifacts": [a.name for a in job.status.artifacts],
        },
    )


def artifact_entry(artifact: Artifact, namespace: str, job_name: str) -> str:
    """The artifact's one name under the job's artifacts folder, from the path the status lists.

    The path is the workers' (under whatever the operator mounts the volume at): it must end in the job's own
    ``<namespace>/<job>/artifacts/<entry>``, with ``entry`` one plain segment, or the artifact cannot be served.
    """
    folder = names.artifacts_dir("", namespace, job_name) + "/"
    position = artifact.path.rfind(folder)
    entry = artifact.path[position + len(folder) :] if position >= 0 else ""
    if not _ENTRY.fullmatch(entry):
        raise ApiError(
            ErrorCode.ARTIFACT_NOT_FOUND,
            "The artifact is not in the job's artifacts folder and cannot be downloaded",
            {"artifact": artifact.name},
        )
    return entry


def build_reader_pod(settings: Settings, namespace: str, job: TrainingJobResource) -> dict[str, Any]:
    """The artifact reader of ``job``: its checkpoint volume read-only, no API credential, no privileges."""
    job_name = job.metadata.name
    root = names.artifacts_dir(READER_VOLUME_PATH, namespace, job_name)
    argv = ["python", "-m", "tensorone_trainer.serve_artifacts", "--volume", READER_VOLUME_PATH, "--root", root,
            "--port", str(READER_PORT), "--idle-seconds", str(settings.reader_idle_seconds)]  # fmt: skip
    owner = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "TrainingJob",
        "name": job_name,
        "uid": job.metadata.uid,
    }
    metadata: dict[str, Any] = {
        "name": names.artifact_reader_pod_name(job_name),
        "namespace": namespace,
        "labels": {
            names.ARTIFACTS_OF_LABEL: job_name,
            names.COMPONENT_LABEL: names.ARTIFACT_READER_COMPONENT,
            names.MANAGED_BY_LABEL: names.FACADE_MANAGED_BY,
        },
    }
    if job.metadata.uid:
        metadata["ownerReferences"] = [owner]
    user = settings.reader_user_id
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            # A ceiling beside the reader's own idle exit.
            "activeDeadlineSeconds": 6 * 3600,
            "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user},
            "volumes": [
                {
                    "name": _VOLUME,
                    "persistentVolumeClaim": {
                        "claimName": names.checkpoint_claim_name(job_name),
                        "readOnly": True,
                    },
                }
            ],
            "containers": [
                {
                    "name": "reader",
                    "image": settings.reader_image,
                    "command": argv,
                    "ports": [{"name": "http", "containerPort": READER_PORT}],
                    "volumeMounts": [{"name": _VOLUME, "mountPath": READER_VOLUME_PATH, "readOnly": True}],
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _proxy_path(namespace: str, pod: str, route: str) -> str:
    return PODS.path(namespace, f"{pod}:{READER_PORT}", f"proxy{route}")


def _unavailable(settings: Settings) -> ApiError:
    return ApiError(
        ErrorCode.INTERNAL_ERROR,
        f"The artifact reader did not answer within {settings.reader_start_seconds:.0f} s; try again",
    )


async def ensure_reader(
    kube: KubeClient, settings: Settings, namespace: str, job: TrainingJobResource
) -> str:
    """The name of ``job``'s reader pod once it answers: reused while it runs, started (again) when it is gone or
    has exited."""
    name = names.artifact_reader_pod_name(job.metadata.name)
    deadline = time.monotonic() + settings.reader_start_seconds
    while time.monotonic() < deadline:
        try:
            pod = await kube.get(PODS, namespace, name)
        except KubeError as e:
            if e.status != 404:
                raise
            try:
                await kube.create(PODS, namespace, build_reader_pod(settings, namespace, job))
            except KubeError as created:
                if created.status != 409:  # another download started it a moment ago
                    raise
            continue
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(names.ARTIFACTS_OF_LABEL) != job.metadata.name:
            # Not a pod this facade made: never proxy to it.
            raise ApiError(ErrorCode.INTERNAL_ERROR, "A pod not made by the platform holds the reader's name")
        status = pod.get("status") or {}
        deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        if deleting:
            pass  # an exited reader on its way out: wait for it to be gone, then start a new one
        elif status.get("phase") in ("Succeeded", "Failed"):
            # It exited when idle (or reached its deadline): replace it.
            try:
                await kube.delete(PODS, namespace, name)
            except KubeError as e:
                if e.status != 404:
                    raise
            continue
        elif status.get("phase") == "Running" and status.get("podIP"):
            try:
                await kube.text(_proxy_path(namespace, name, names.ARTIFACT_READER_HEALTH), {})
                return name
            except KubeError as e:
                if e.status < 500:
                    raise
        await asyncio.sleep(_POLL_SECONDS)
    raise _unavailable(settings)


async def stream_artifact(
    kube: KubeClient,
    settings: Settings,
    namespace: str,
    job: TrainingJobResource,
    artifact: Artifact,
    entry: str,
) -> AsyncIterator[bytes]:
    """The artifact's bytes (a file as it is, a folder as a tar), from the job's reader pod; ``entry`` is
    ``artifact_entry(artifact, …)``.

    Started before it is returned: a refusal or an unreachable reader is the API's error, not a broken 200.
    """
    pod = await ensure_reader(kube, settings, namespace, job)
    route = f"{names.ARTIFACT_READER_ROUTE}{entry}"
    chunks = kube.stream_lines(_proxy_path(namespace, pod, route), {"kind": artifact.kind})
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except KubeError as e:
        if e.status == 404:
            # Listed, but not (or no longer) on the volume as a plain file or folder.
            raise ApiError(
                ErrorCode.ARTIFACT_NOT_FOUND,
                "The artifact is listed but not readable on the job's volume",
                {"artifact": artifact.name},
            ) from e
        raise

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return rest()


def download_filename(artifact: Artifact, entry: str) -> str:
    """What the download is saved as: the file's own name, or ``<folder>.tar``."""
    return entry if artifact.kind == "file" else f"{entry}.tar"
