"""kopf handlers: thin. They route watch events to one long-lived daemon per TrainingJob, which runs
:meth:`Engine.reconcile` whenever the job or one of its pods changes (or a deadline comes due).

Why a daemon and not change handlers: a job's next step depends on its pods as much as on its spec, and change
handlers would write kopf's progress annotations on every job (API writes the benchmark counts). Worker pods
are kept in a kopf index, so a pass reads no pods from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterable
from typing import Any

import kopf

from tensorone.api import names
from tensorone.api.spec import API_GROUP, API_VERSION, DATASET_PLURAL, TRAINING_JOB_PLURAL
from tensorone.controller.pods import PodView, parse_pod
from tensorone.controller.reconcile import DatasetKey, Engine
from tensorone.controller.reporting.directory import jobs as report_directory

WORKER_LABELS = {names.JOB_LABEL: kopf.PRESENT}
# The first pass waits (at most this long) for kopf's finalizer PATCH to come back: a status patch decided before it
# would carry a resourceVersion that the finalizer just made stale, and get 409 Conflict (a wasted write and a pass).
# In a burst of hundreds of new jobs the watch can take seconds to show it; the wait ends as soon as it does.
FINALIZER_WAIT_SECONDS = 30.0
_wakeups: dict[tuple[str, str], asyncio.Event] = {}
_engine: Engine | None = None


def install(engine: Engine) -> None:
    """Give the handlers the process's engine (called once before kopf starts)."""
    global _engine
    _engine = engine


def engine() -> Engine:
    if _engine is None:
        raise kopf.PermanentError("the operator's engine is not installed")
    return _engine


def _wake(namespace: str | None, job: str | None) -> None:
    event = _wakeups.get((namespace or "", job or ""))
    if event is not None:
        event.set()


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base exists for ``on.update`` handlers, and this operator has none. So nothing is stored (kopf
    never writes its ``last-handled-configuration`` annotation: one PATCH per job saved) and every object's essence
    is the same empty one (kopf would otherwise deep-copy every job and pod twice per watch event to compute a diff
    nobody reads). Deletion is still seen: kopf detects it from ``deletionTimestamp``, not from the diff."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _finalized(body: kopf.Body) -> bool:
    meta = body.get("metadata") or {}
    return names.FINALIZER in (meta.get("finalizers") or []) or bool(meta.get("deletionTimestamp"))


async def _wait(wakeup: asyncio.Event, timeout: float) -> None:
    """Until the job's wakeup (its changes, its pods', the daemon's stop) or ``timeout``. No task per wait: a burst of
    jobs waits thousands of times."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(timeout, 0.0)):
            await wakeup.wait()


async def _wake_when_stopped(stopped: kopf.DaemonStopped, wakeup: asyncio.Event) -> None:
    await stopped.wait()
    wakeup.set()


def _pods(index: kopf.Index[tuple[str, str], PodView], namespace: str | None, name: str) -> list[PodView]:
    return list(index.get((namespace or "", name), []))


@kopf.index("pods", labels=WORKER_LABELS)
async def worker_pods(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], PodView]:
    """The job's worker pods, as the watch shows them; each change wakes the job's daemon.

    The wake is scheduled, not done here: kopf stores what an index handler returns as soon as it returns (no
    await in between), so the daemon, woken on the next turn of the loop, reads the index with this pod in it.
    """
    job = labels[names.JOB_LABEL]
    asyncio.get_running_loop().call_soon(_wake, namespace, job)
    return {(namespace or "", job): parse_pod(dict(body))}


@kopf.index(API_GROUP, API_VERSION, DATASET_PLURAL)
async def known_datasets(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[DatasetKey, Any]:
    """Datasets as the watch shows them, so admitting a job reads no Dataset from the API (a miss still does)."""
    return {(namespace or "", name): dict(body)}


def _deleted(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event("pods", labels=WORKER_LABELS, when=_deleted)
async def pod_deleted(namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    """A pod gone wakes its job's daemon (kopf drops it from the index without calling the index handler)."""
    _wake(namespace, labels.get(names.JOB_LABEL))


@kopf.on.event(API_GROUP, API_VERSION, TRAINING_JOB_PLURAL)
async def job_changed(namespace: str | None, name: str, **_: Any) -> None:
    _wake(namespace, name)


@kopf.daemon(API_GROUP, API_VERSION, TRAINING_JOB_PLURAL, cancellation_timeout=10.0)
async def run_job(
    stopped: kopf.DaemonStopped,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    worker_pods: kopf.Index[tuple[str, str], PodView] = kwargs["worker_pods"]
    engine().dataset_index = kwargs["known_datasets"]
    key = (namespace or "", name)
    wakeup = _wakeups.setdefault(key, asyncio.Event())
    report_directory.track(key, body, worker_pods)  # whose workers may report (the live body stays current)
    ahead: asyncio.Future[None] | None = None
    relay = asyncio.ensure_future(_wake_when_stopped(stopped, wakeup))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINALIZER_WAIT_SECONDS
        if not _finalized(body):  # a new job: its workers need not wait for the finalizer, its status does
            ahead = asyncio.ensure_future(
                engine().create_ahead(dict(body), _pods(worker_pods, namespace, name))
            )
        while not stopped and not _finalized(body) and loop.time() < deadline:
            wakeup.clear()
            await _wait(wakeup, deadline - loop.time())
        if ahead is not None:
            try:
                await ahead
            except Exception:  # the first pass creates whatever is missing
                logger.exception("creating the workers ahead of the first pass failed")
        decided: Hashable = None  # the inputs the last pass decided on, as its own status write left them
        due = loop.time()  # when the last pass asked to be run again
        while not stopped:
            wakeup.clear()
            obj, pods = dict(body), _pods(worker_pods, namespace, name)
            if loop.time() >= due or engine().inputs(obj, pods) != decided:
                try:
                    delay = await engine().reconcile(obj, pods)
                except Exception:  # one bad pass must not end the job's daemon
                    logger.exception("reconcile failed; retrying")
                    delay = 5.0
                decided = engine().inputs(obj, pods)
                due = loop.time() + (delay or engine().settings.resync_seconds)
            await _wait(wakeup, due - loop.time())
    finally:
        relay.cancel()
        if ahead is not None and not ahead.done():
            ahead.cancel()
        _wakeups.pop(key, None)
        report_directory.forget(key)


@kopf.on.delete(API_GROUP, API_VERSION, TRAINING_JOB_PLURAL)
async def stop_workers_on_delete(
    namespace: str | None,
    name: str,
    body: kopf.Body,
    **kwargs: Any,
) -> None:
    """The finalizer: running workers are stopped and usage is final before the job disappears."""
    if not await engine().finalize(dict(body), _pods(kwargs["worker_pods"], namespace, name)):
        raise kopf.TemporaryError("waiting for the workers to stop", delay=1)


@kopf.on.probe(id="jobs")
def jobs_driven(**_: Any) -> int:
    """In the liveness answer (``--liveness-port``): the jobs this operator is driving right now."""
    return len(_wakeups)


_connection_info: kopf.ConnectionInfo | None = None
_watch_timeout_seconds = 300


def configure(connection: kopf.ConnectionInfo, watch_timeout_seconds: int) -> None:
    """Credentials and watch timeout for kopf's own watches (called once before kopf starts)."""
    global _connection_info, _watch_timeout_seconds
    _connection_info = connection
    _watch_timeout_seconds = watch_timeout_seconds


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo | None:
    return _connection_info


@kopf.on.startup()
def tune_kopf(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf #585 / #955: a watch whose TCP connection dies silently (NAT, load balancer, API server restart)
    # otherwise hangs forever and the operator stops seeing changes. The server closes each watch after
    # server_timeout; the client gives up after client_timeout in case the server never does; connect_timeout
    # bounds a hung connect. Watches are then re-established from the last resourceVersion.
    settings.watching.server_timeout = _watch_timeout_seconds
    settings.watching.client_timeout = _watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.diffbase_storage = NoDiffBase()
    # Our own transition events are enough; kopf's per-handler log events would double the API writes per job.
    settings.posting.enabled = False
