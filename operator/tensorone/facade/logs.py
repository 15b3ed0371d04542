"""Worker logs: from the worker pod while it exists, else from what the operator kept after it was gone.

Retention convention (shared with the operator): a ConfigMap ``<job-name>-logs`` in the job's namespace whose
data keys are ``worker-<i>.log``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tensorone.facade.kube import PODS, KubeClient, KubeError, Resource

CONFIGMAPS = Resource("", "v1", "configmaps")


def pod_name(job_name: str, worker: int) -> str:
    return f"{job_name}-worker-{worker}"


async def retained_log(kube: KubeClient, namespace: str, job_name: str, worker: int) -> str | None:
    try:
        cm = await kube.get(CONFIGMAPS, namespace, f"{job_name}-logs")
    except KubeError as e:
        if e.status == 404:
            return None
        raise
    value = (cm.get("data") or {}).get(f"worker-{worker}.log")
    return str(value) if value is not None else None


def _tail(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail else ""


async def read_log(kube: KubeClient, namespace: str, job_name: str, worker: int, tail: int | None) -> str:
    """The worker's log now (empty when the worker has not started and nothing was kept)."""
    params = {"tailLines": str(tail)} if tail is not None else {}
    try:
        return await kube.text(PODS.path(namespace, pod_name(job_name, worker), "log"), params)
    except KubeError as e:
        if e.status not in (400, 404):
            raise
    return _tail(await retained_log(kube, namespace, job_name, worker) or "", tail)


async def follow_log(
    kube: KubeClient, namespace: str, job_name: str, worker: int, tail: int | None
) -> AsyncIterator[bytes]:
    """The worker's log as it is written, until the worker ends (or what was kept, if it already has)."""
    params = {"follow": "true"}
    if tail is not None:
        params["tailLines"] = str(tail)
    try:
        async for chunk in kube.stream_lines(PODS.path(namespace, pod_name(job_name, worker), "log"), params):
            yield chunk
        return
    except KubeError as e:
        if e.status not in (400, 404):
            raise
    kept = _tail(await retained_log(kube, namespace, job_name, worker) or "", tail)
    if kept:
        yield kept.encode()
