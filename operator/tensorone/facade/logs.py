"""Worker logs: from the worker pod while it exists, else from what the operator archived after it was gone.

The operator keeps each finished attempt's logs in a ConfigMap; they are found by label
(``names.archived_logs_selector``) and read by ``names.worker_log_key``, the same definitions the operator writes
them with, never by a name guessed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tensorone.api import names
from tensorone.facade.kube import PODS, KubeClient, KubeError, Resource

CONFIGMAPS = Resource("", "v1", "configmaps")


def attempt_header(attempt: int) -> str:
    """The line that opens one attempt's log when a reply holds several (as ``tail`` does for several files)."""
    return f"==> attempt {attempt} <==\n"


async def archived_logs(kube: KubeClient, namespace: str, job_name: str, worker: int) -> dict[int, str]:
    """Attempt → what worker ``worker`` wrote in it, for every attempt the operator archived."""
    listed = await kube.list(CONFIGMAPS, namespace, label_selector=names.archived_logs_selector(job_name))
    kept: dict[int, str] = {}
    for item in listed.get("items") or []:
        labels = (item.get("metadata") or {}).get("labels") or {}
        value = (item.get("data") or {}).get(names.worker_log_key(worker))
        try:
            attempt = int(labels.get(names.ATTEMPT_LABEL, ""))
        except ValueError:
            continue
        if value is not None:
            kept[attempt] = str(value)
    return kept


def join_attempts(kept: dict[int, str], attempt: int | None) -> str:
    """One attempt's log, or every attempt's in order, each under its header when there are several."""
    if attempt is not None:
        return kept.get(attempt, "")
    if len(kept) == 1:
        return next(iter(kept.values()))
    parts = []
    for number in sorted(kept):
        text = kept[number]
        parts.append(attempt_header(number) + text + ("" if not text or text.endswith("\n") else "\n"))
    return "".join(parts)


def _tail(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail else ""


async def read_log(
    kube: KubeClient, namespace: str, job_name: str, worker: int, tail: int | None, attempt: int | None = None
) -> str:
    """The worker's log: the running attempt's from its pod, a finished one's (or every one's) from the archive.
    Empty when the worker has not started and nothing was kept."""
    kept: dict[int, str] | None = None
    if attempt is not None:
        # An attempt that was archived has ended; any other can only be the one running now.
        kept = await archived_logs(kube, namespace, job_name, worker)
        if attempt in kept:
            return _tail(kept[attempt], tail)
    pod_path = PODS.path(namespace, names.worker_pod_name(job_name, worker), "log")
    params = {"container": names.TRAINER_CONTAINER}
    if tail is not None:
        params["tailLines"] = str(tail)
    try:
        return await kube.text(pod_path, params)
    except KubeError as e:
        if e.status not in (400, 404):
            raise
    if kept is None:
        kept = await archived_logs(kube, namespace, job_name, worker)
    return _tail(join_attempts(kept, attempt), tail)


async def follow_log(
    kube: KubeClient, namespace: str, job_name: str, worker: int, tail: int | None
) -> AsyncIterator[bytes]:
    """The worker's log as it is written, until the worker ends (or what was kept, if it already has)."""
    params = {"follow": "true", "container": names.TRAINER_CONTAINER}
    if tail is not None:
        params["tailLines"] = str(tail)
    try:
        async for chunk in kube.stream_lines(
            PODS.path(namespace, names.worker_pod_name(job_name, worker), "log"), params
        ):
            yield chunk
        return
    except KubeError as e:
        if e.status not in (400, 404):
            raise
    kept = _tail(join_attempts(await archived_logs(kube, namespace, job_name, worker), None), tail)
    if kept:
        yield kept.encode()
