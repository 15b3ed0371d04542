"""One reconcile pass of one TrainingJob: parse, admit or decide (pure), write status if it changed, act.

Idempotent by construction: children have deterministic names and 409 AlreadyExists is success; the status patch
carries the resourceVersion the decision was made from, so a pass that decided on a stale view (an operator that
just restarted, a second operator, a watch that lags our own write) gets 409 Conflict, does nothing and looks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tensorone.api import names
from tensorone.api.dataset import DatasetSpec
from tensorone.api.errors import ConfigurationError
from tensorone.api.resources import (
    DatasetResource,
    ObjectMeta,
    TrainingJobResource,
    parse_training_job_spec,
)
from tensorone.api.sources import (
    PROGRESS_PREFIX,
    FetchProgress,
    InitializerReport,
    describe_fetch,
    describe_progress,
    is_fetched,
)
from tensorone.api.spec import AnyJobSpec
from tensorone.api.status import FINISHED_PHASES, ConditionStatus, ConditionType, JobPhase, TrainingJobStatus
from tensorone.api.trainer_config import DatasetCheck
from tensorone.catalog.gpus import GpuCatalog
from tensorone.controller.admission import (
    NodeOffer,
    Refusal,
    admitted_status,
    check_admission,
    checking_status,
    initialized_status,
    refused_status,
    waiting_status,
)
from tensorone.controller.aggregation import Decision, JobEvent, JobView, PhaseChange, Timing, decide
from tensorone.controller.builders import (
    JobContext,
    build_initializer_pod,
    build_logs_config_map,
    build_support_objects,
    build_worker_pods,
    needs_initializer,
)
from tensorone.controller.conditions import Reason, condition
from tensorone.controller.failures import meaningful_lines
from tensorone.controller.kube import ConflictError, KubeClient
from tensorone.controller.metrics import OperatorMetrics
from tensorone.controller.pods import PodView
from tensorone.controller.settings import OperatorSettings

logger = logging.getLogger(__name__)

OPERATOR_STATUS_FIELDS = (
    "phase", "conditions", "observedGeneration", "startedAt", "completedAt", "attempts", "failedAttempts",
    "resumedFrom", "resourceAllocation", "estimatedCost", "estimatedDurationSeconds", "estimatedCompletion",
    "resourceUsage", "error",
)  # fmt: skip
DatasetKey = tuple[str, str]  # (namespace, name)
RETRY_SOON = 0.5
NODE_CACHE_SECONDS = 10.0
# A worker pod this operator created counts as there for this long even while the watch does not show it yet:
# a pass woken by another event in between would otherwise POST it again (409 AlreadyExists, a wasted write).
EXPECT_CREATED_SECONDS = 30.0
# A job whose Dataset does not exist yet looks for it again this often.
DATASET_WAIT_SECONDS = 3.0
# A deleted worker the kubelet has not reported ended this long after its grace period is let go without its log.
RELEASE_AFTER_SECONDS = 60.0
# While the initializer runs, its progress is read from its log this often (and its log tail is this long).
INITIALIZER_POLL_SECONDS = 2.0
INITIALIZER_LOG_BYTES = 16 * 1024


def last_progress(log: str) -> str | None:
    """The initializer's last progress line, as the Initializing condition's message (None: none readable)."""
    for line in reversed(log.splitlines()):
        if line.startswith(PROGRESS_PREFIX):
            try:
                return describe_progress(FetchProgress.model_validate_json(line[len(PROGRESS_PREFIX) :]))
            except ValueError:
                return None
    return None


def failed_field(message: str) -> str:
    """The job's field an initializer failure is about (its message starts with the field it names)."""
    return "spec.config.baseModel" if message.startswith("config.baseModel") else "spec.datasetRef.name"


def log_transition(namespace: str, name: str, change: PhaseChange) -> None:
    """One key=value line per phase change or new attempt (the same keys as ``extra`` for JSON log shippers)."""
    fields = {
        "namespace": namespace,
        "job": name,
        "from_phase": str(change.before),
        "to_phase": str(change.after),
        "attempt": change.attempt,
        "reason": change.reason,
    }
    logger.log(
        logging.WARNING if change.after == JobPhase.FAILED else logging.INFO,
        "job transition namespace=%s job=%s from=%s to=%s attempt=%d reason=%s message=%s",
        *fields.values(),
        json.dumps(change.message, ensure_ascii=False),
        extra=fields,
    )


def trainer_resume_point(status: TrainingJobStatus) -> str | None:
    """What the workers are told to resume from. After a retryable failure, the newest intact checkpoint on the
    volume (``latest``): the status names the newest one the trainer had reported, but a trainer that writes
    checkpoints faster than it reports them may already have pruned that one (keep-last) for newer ones, and a
    crash leaves no last report. A user's resume, and a resume after a stop, name their checkpoint exactly."""
    if status.resumed_from and status.failed_attempts > 0:
        return "latest"
    return status.resumed_from


def with_workers_created(events: Sequence[JobEvent], created: str | None) -> list[JobEvent]:
    """The pass's events, with the worker pods it created told in its last event (one event per transition, not
    one more for the pods it brought), or in a ``WorkersCreated`` event of their own when nothing else was said."""
    if created is None:
        return list(events)
    if not events:
        return [JobEvent("Normal", Reason.WORKERS_CREATED, created)]
    last = events[-1]
    return [*events[:-1], JobEvent(last.type, last.reason, f"{last.message}; {created}")]


def split_pods(pods: Sequence[PodView]) -> tuple[list[PodView], list[PodView]]:
    """(worker pods, dataset-check pods): both carry the job's label; only workers take part in decisions."""
    workers = [p for p in pods if p.component != names.DATA_CHECK_COMPONENT]
    return workers, [p for p in pods if p.component == names.DATA_CHECK_COMPONENT]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# The model's attribute names of the operator's status fields, each with its wire name (OPERATOR_STATUS_FIELDS).
_ATTRIBUTES_BY_WIRE_NAME = {
    (field.alias or name): name for name, field in TrainingJobStatus.model_fields.items()
}
OPERATOR_STATUS_ATTRIBUTES = {_ATTRIBUTES_BY_WIRE_NAME[key]: key for key in OPERATOR_STATUS_FIELDS}


def operator_fields(status: TrainingJobStatus, only: Collection[str] | None = None) -> dict[str, Any]:
    """The operator's status fields on the wire (of them, only the attributes named in ``only``)."""
    attributes = [a for a in OPERATOR_STATUS_ATTRIBUTES if only is None or a in only]
    wire = status.model_dump(mode="json", by_alias=True, include=set(attributes))
    return {OPERATOR_STATUS_ATTRIBUTES[a]: wire.get(OPERATOR_STATUS_ATTRIBUTES[a]) for a in attributes}


def status_patch(
    old: TrainingJobStatus, new: TrainingJobStatus, now: datetime, flush_seconds: float, workers_running: bool
) -> dict[str, Any] | None:
    """The merge patch from ``old`` to ``new`` (operator fields only), or None when nothing worth writing changed.

    Usage alone is written at most every ``flush_seconds`` while workers run (it is recomputed from the persisted
    ``accruedUntil`` on every pass, so skipping a write loses nothing).
    """
    # Only the fields whose models differ are serialised and compared on the wire (equal models serialise equally);
    # serialising both whole statuses on every pass cost more than the decision itself.
    differing = [attr for attr in OPERATOR_STATUS_ATTRIBUTES if getattr(old, attr) != getattr(new, attr)]
    if not differing:
        return None
    before, after = operator_fields(old, differing), operator_fields(new, differing)
    changed = {key: value for key, value in after.items() if before.get(key) != value}
    if set(changed) == {"resourceUsage"}:
        old_usage, new_usage = old.resource_usage, new.resource_usage
        if old_usage is not None and new_usage is not None:
            if (
                old_usage.gpu_seconds == new_usage.gpu_seconds
                and old_usage.efficiency == new_usage.efficiency
            ):
                return None
            age = (
                (now - old_usage.accrued_until).total_seconds() if old_usage.accrued_until else flush_seconds
            )
            if workers_running and age < flush_seconds:
                return None
    return changed or None


@dataclass
class Engine:
    """Everything one operator process shares between passes."""

    client: KubeClient
    settings: OperatorSettings
    catalog: GpuCatalog
    metrics: OperatorMetrics

    def __post_init__(self) -> None:
        self._datasets: dict[str, DatasetSpec] = {}
        self._specs: dict[str, tuple[int, AnyJobSpec]] = {}  # uid -> (generation, its parsed spec)
        # Datasets as a watch shows them (kopf's index; set by the handlers). A miss falls back to a GET: the watch
        # may not have shown a dataset created a moment before its job yet.
        self.dataset_index: Mapping[DatasetKey, Collection[dict[str, Any]]] = {}
        self._support_ready: set[str] = set()
        # uid -> (generation, dataset, status) admission gave a job before its first pass (create_ahead), and
        # what that created: the first pass writes this status and tells these pods, not a verdict of its own.
        self._admitted_ahead: dict[str, tuple[int | None, DatasetResource, TrainingJobStatus]] = {}
        self._created_ahead: dict[str, str] = {}
        # uid -> {(attempt, worker index): monotonic time we created it}, until the watch shows that pod
        self._expected_pods: dict[str, dict[tuple[int, int], float]] = {}
        self._children_removed: set[str] = set()
        # uid -> (resourceVersion we patched from, the object the patch returned): a watch that still shows the
        # old version must not be decided on again (it would repeat the transition we just wrote).
        self._fresh: dict[str, tuple[str | None, dict[str, Any]]] = {}
        self._nodes: tuple[float, list[NodeOffer]] | None = None  # (monotonic time listed, offers)
        self._listing_nodes = asyncio.Lock()  # a burst of new jobs shares one listing, not one each
        self.timing = Timing(
            stall_window_seconds=self.settings.stall_window_seconds,
            termination_grace_period_seconds=self.settings.termination_grace_period_seconds,
            usage_flush_seconds=self.settings.usage_flush_seconds,
            resync_seconds=self.settings.resync_seconds,
        )

    async def reconcile(self, obj: dict[str, Any], pods: Sequence[PodView]) -> float | None:
        """One pass; returns when to look again (None: on the next event or resync)."""
        started = time.perf_counter()
        try:
            return await self._reconcile(obj, pods)
        finally:
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
            self.metrics.observe_requests(self.client.requests)

    def _parse(self, obj: dict[str, Any]) -> TrainingJobResource:
        """The job as models; a bad spec raises ``ConfigurationError``."""
        meta = ObjectMeta.model_validate(obj.get("metadata") or {})
        status = TrainingJobStatus.model_validate(obj.get("status") or {})
        return TrainingJobResource(metadata=meta, spec=self._spec(meta, obj), status=status)

    def _spec(self, meta: ObjectMeta, obj: dict[str, Any]) -> AnyJobSpec:
        """The job's spec, parsed once per generation: it changes only with it, and parsing runs the whole
        validation (``customCode`` compiled included). A bad spec raises ``ConfigurationError``."""
        cached = self._specs.get(meta.uid or "")
        if cached is not None and meta.generation is not None and cached[0] == meta.generation:
            return cached[1]
        spec = parse_training_job_spec(obj.get("spec"))
        if meta.uid and meta.generation is not None:
            self._specs[meta.uid] = (meta.generation, spec)
        return spec

    def inputs(self, obj: dict[str, Any], pods: Sequence[PodView]) -> Hashable:
        """What a pass decides on: the job's version (the one this operator's own last write made, while the watch
        still shows the one before it) and its pods as a pass reads them.

        A second pass on the same inputs decides what the first did, but for what time changes, and the first pass's
        requeue delay already covers that: the daemon skips it. The echo of the operator's own status patch, or a pod
        change no pass reads (its node bound, a managed field), costs no pass then."""
        meta = self._freshest(obj).get("metadata") or {}
        return meta.get("resourceVersion"), frozenset(pod.as_decided_on for pod in pods)

    def _freshest(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        known = self._fresh.get(str(meta.get("uid")))
        if known is not None and known[0] == meta.get("resourceVersion"):
            return known[1]
        return obj

    async def _reconcile(self, obj: dict[str, Any], pods: Sequence[PodView]) -> float | None:
        try:
            return await self._pass(self._freshest(obj), pods)
        except ConflictError:
            # Someone wrote the job after our view of it (kopf's finalizer, a second operator): look again as soon as
            # the watch shows the newer version (the daemon wakes on it; usually it has already come), not at the
            # resync. No GET: the operator may only list and watch jobs, and a pass decided on a job read now but on
            # the pod index as it is could see pods the index does not show yet as gone.
            return RETRY_SOON

    async def _pass(self, obj: dict[str, Any], pods: Sequence[PodView]) -> float | None:
        pods, checks = split_pods(pods)
        meta = ObjectMeta.model_validate(obj.get("metadata") or {})
        status = TrainingJobStatus.model_validate(obj.get("status") or {})
        try:
            job = TrainingJobResource(metadata=meta, spec=self._spec(meta, obj), status=status)
        except ConfigurationError as e:
            if condition(status, ConditionType.ADMITTED) is None:
                refusal = Refusal(Reason.INVALID_SPEC, f"{e.field}: {e.reason}", e.field)
                await self._write(meta, status, refused_status(status, refusal, utcnow(), meta.generation))
            return None
        admitted = condition(status, ConditionType.ADMITTED)
        if admitted is None or admitted.reason in (Reason.WAITING_FOR_DATASET, Reason.CHECKING_DATA):
            return await self._admit(meta, job, pods, checks)
        await self._drop_checks(meta, checks)
        if admitted.status != ConditionStatus.TRUE:
            return None
        return await self._drive(meta, job, pods)

    async def _find_dataset(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Dataset object: from the watch's index when it is there, else from the API (None: not found)."""
        for known in self.dataset_index.get((namespace, name), ()):
            return known
        return await self.client.get("Dataset", namespace, name)

    async def _node_offers(self, fresh: bool) -> list[NodeOffer]:
        """The nodes' GPU offer, listed at most every ``NODE_CACHE_SECONDS`` unless ``fresh``."""
        asked = time.monotonic()
        async with self._listing_nodes:
            listed = self._nodes[0] if self._nodes is not None else None
            stale = listed is None or time.monotonic() - listed > NODE_CACHE_SECONDS
            if self._nodes is None or stale or (fresh and listed is not None and listed < asked):
                offers = [NodeOffer.from_node(n) for n in await self.client.list("Node", None)]
                self._nodes = (time.monotonic(), offers)
            return self._nodes[1]

    async def _judge(self, meta: ObjectMeta, job: TrainingJobResource) -> DatasetResource | Refusal:
        """Admission's verdict: the job's dataset when admitted, else why not."""
        name = job.spec.dataset_ref.name
        raw_dataset = await self._find_dataset(meta.namespace, name)
        dataset: DatasetResource | None = None
        if raw_dataset is not None:
            try:
                dataset = DatasetResource.from_k8s(raw_dataset)
            except ConfigurationError as e:
                # A Dataset the CRD let in but the model refuses (a source outside the data volume, made before
                # the CRD carried the rule): no worker may read it.
                message = f"Dataset {name!r} {e.field}: {e.reason}"
                return Refusal(Reason.INVALID_DATASET, message, "spec.datasetRef.name")
            if is_fetched(dataset.spec.source) and self.settings.dataset_volume_claim is None:
                message = (
                    f"Dataset {name!r} source: URLs are fetched into the dataset volume, and this platform has none "
                    "(the operator setting datasetVolumeClaim)"
                )
                return Refusal(Reason.INVALID_DATASET, message, "spec.datasetRef.name")
        refusal = check_admission(job.spec, dataset, await self._node_offers(fresh=False), self.catalog)
        if refusal is not None and refusal.reason == Reason.INSUFFICIENT_RESOURCES:
            # The cached offer may be out of date: refuse only on what the nodes offer now.
            refusal = check_admission(job.spec, dataset, await self._node_offers(fresh=True), self.catalog)
        if refusal is not None or dataset is None:
            return refusal or Refusal(Reason.DATASET_NOT_FOUND, "dataset not found")
        return dataset

    async def create_ahead(self, obj: dict[str, Any], pods: Sequence[PodView]) -> None:
        """A new job's children, made while kopf's finalizer is on its way (its first pass waits for it: the status
        patch must carry the resourceVersion the finalizer makes), so the worker pods do not wait for that round
        trip. Only for a job admission admits; the verdict and the status it gives are kept for that first pass to
        write, so the pass cannot judge differently from what was created. Idempotent like every pass."""
        try:
            job = self._parse(obj)
        except ConfigurationError:
            return
        pods, _ = split_pods(pods)
        meta = job.metadata
        if condition(job.status, ConditionType.ADMITTED) is not None:
            return  # decided before (an operator restart): the pass goes on from the status
        dataset = await self._judge(meta, job)
        if isinstance(dataset, Refusal) or needs_initializer(job.spec, dataset.spec, self.settings):
            return  # refused, or its data is fetched or checked first: no worker ahead of that
        uid = meta.uid or meta.name
        admitted = admitted_status(job.status, job.spec, dataset, self.catalog, utcnow(), meta.generation)
        self._admitted_ahead[uid] = (meta.generation, dataset, admitted)
        self._datasets[uid] = dataset.spec
        view = JobView(name=meta.name, generation=meta.generation or 1, spec=job.spec, status=admitted)
        price = self.catalog.gpu(self.catalog.resolve(job.spec.gpu_type)).price_per_hour
        decision = decide(view, pods, utcnow(), self.timing, price)
        if decision.create_workers and decision.status.phase not in FINISHED_PHASES:
            job = job.model_copy(update={"status": decision.status})
            created = await self._create_workers(meta, job, decision.status, pods)
            if created is not None:
                self._created_ahead[uid] = created

    async def _admit(
        self,
        meta: ObjectMeta,
        job: TrainingJobResource,
        pods: Sequence[PodView],
        checks: Sequence[PodView] = (),
    ) -> float | None:
        """Admit or refuse; an admitted job's first decision goes into the same status patch."""
        uid = meta.uid or meta.name
        now = utcnow()
        ahead = self._admitted_ahead.get(uid)
        if ahead is not None and ahead[0] == meta.generation:
            _, dataset, new = ahead
        else:
            verdict = await self._judge(meta, job)
            if isinstance(verdict, Refusal) and verdict.reason == Reason.DATASET_NOT_FOUND:
                await self._write(
                    meta, job.status, waiting_status(job.status, job.spec, now, meta.generation)
                )
                return DATASET_WAIT_SECONDS
            if isinstance(verdict, Refusal):
                await self._write(meta, job.status, refused_status(job.status, verdict, now, meta.generation))
                self._observe_admission(meta, now)
                return None
            dataset = verdict
            initialized = job.status
            if needs_initializer(job.spec, dataset.spec, self.settings):
                passed, delay, initialized = await self._initialize(meta, job, dataset, checks, now)
                if not passed:
                    return delay
            new = admitted_status(initialized, job.spec, dataset, self.catalog, now, meta.generation)
        self._datasets[uid] = dataset.spec
        # The check has said its piece: gone before the workers come (a job never has more pods than workers).
        await self._drop_checks(meta, checks)
        delay = await self._drive(meta, job, pods, admitted=new)  # ConflictError: decided again, same verdict
        self._admitted_ahead.pop(uid, None)
        self._observe_admission(meta, now)
        return delay

    async def _initialize(
        self,
        meta: ObjectMeta,
        job: TrainingJobResource,
        dataset: DatasetResource,
        checks: Sequence[PodView],
        now: datetime,
    ) -> tuple[bool, float | None, TrainingJobStatus]:
        """Fetch what the job names by URL or hub id and read the dataset once, in a small pod, before any worker
        starts: (passed, when to look again, the status to admit from). A missing source or a malformed dataset
        fails the job here, with the initializer's own sentence, and no GPU is billed."""
        pod = next((p for p in checks if not p.deleting), None)
        if pod is None:
            self._datasets[meta.uid or meta.name] = dataset.spec
            ctx = await self._context(meta, job)
            if ctx is None:
                return False, DATASET_WAIT_SECONDS, job.status
            await self.client.create(build_initializer_pod(ctx))
            await self._write(meta, job.status, checking_status(job.status, job.spec, now, meta.generation))
            return False, None, job.status  # the initializer's changes wake the job
        if not pod.terminated:
            if pod.running:
                log = await self.client.read_log(meta.namespace, pod.name, INITIALIZER_LOG_BYTES)
                progress = last_progress(log or "")
                if progress is not None:
                    status = checking_status(job.status, job.spec, now, meta.generation, progress)
                    await self._write(meta, job.status, status)
            return False, INITIALIZER_POLL_SECONDS, job.status
        if pod.exit_code == 0:
            try:
                report = InitializerReport.model_validate_json(pod.message)
            except ValueError:
                logger.warning("the initializer of %s/%s said nothing readable", meta.namespace, meta.name)
                report = InitializerReport()
            if report.check is not None:
                await self._record_dataset(meta.namespace, dataset, report.check, None)
            said = [
                f"{what} {describe_fetch(s)}"
                for what, s in (("dataset", report.dataset), ("model", report.model))
                if s
            ]
            message = "; ".join(said) or "dataset checked"
            await self._post_events(meta, [JobEvent("Normal", Reason.INITIALIZED, message)])
            return True, None, initialized_status(job.status, True, message, now, meta.generation)
        message = meaningful_lines(pod.message) or f"the initializer exited with {pod.exit_code}"
        refusal = Refusal(Reason.DATA_ERROR, message, failed_field(message))
        failed = initialized_status(job.status, False, message, now, meta.generation)
        await self._write(meta, job.status, refused_status(failed, refusal, now, meta.generation))
        self._observe_admission(meta, now)
        if not message.startswith("config.baseModel"):
            await self._record_dataset(meta.namespace, dataset, None, message)
        await self._drop_checks(meta, checks)
        return False, None, job.status

    async def _record_dataset(
        self, namespace: str, dataset: DatasetResource, found: DatasetCheck | None, problem: str | None
    ) -> None:
        """What the check found, in the Dataset's status (best effort: the job does not depend on it)."""
        if found is not None:
            where = f"; records from {found.first} to {found.last}" if found.first else ""
            patch: dict[str, Any] = {
                "phase": "Ready", "sizeBytes": found.size_bytes, "numExamples": found.num_examples,
                "message": f"checked: {found.num_examples} examples{where}",
            }  # fmt: skip
        else:
            patch = {"phase": "Invalid", "message": problem}
        try:
            await self.client.patch_status("Dataset", namespace, dataset.metadata.name, patch, None)
        except Exception as e:
            logger.warning(
                "cannot write the status of dataset %s/%s: %s", namespace, dataset.metadata.name, e
            )

    async def _drop_checks(self, meta: ObjectMeta, checks: Sequence[PodView]) -> None:
        await asyncio.gather(
            *(self.client.delete("Pod", meta.namespace, p.name) for p in checks if not p.deleting)
        )

    def _observe_admission(self, meta: ObjectMeta, now: datetime) -> None:
        if meta.creation_timestamp is not None:
            self.metrics.admission_seconds.observe(max(0.0, (now - meta.creation_timestamp).total_seconds()))

    async def _drive(
        self,
        meta: ObjectMeta,
        job: TrainingJobResource,
        pods: Sequence[PodView],
        admitted: TrainingJobStatus | None = None,
    ) -> float | None:
        """Decide, patch the status, act. ``admitted``: the status admission just gave the job (not yet written),
        decided on and written together with the decision's changes."""
        persisted = job.status
        if admitted is not None:
            job = job.model_copy(update={"status": admitted})
        view = JobView(name=meta.name, generation=meta.generation or 1, spec=job.spec, status=job.status)
        now = utcnow()
        gpu_type = self.catalog.resolve(job.spec.gpu_type)
        price = self.catalog.gpu(gpu_type).price_per_hour
        decision = decide(view, pods, now, self.timing, price)
        running = any(p.running for p in pods)
        patch = status_patch(persisted, decision.status, now, self.settings.usage_flush_seconds, running)
        if patch is not None:
            await self._patch(meta, patch)  # ConflictError: the caller decides again on a fresh view
            self._count_usage(meta, str(gpu_type), persisted, decision.status)
            events = list(decision.events)
            if admitted is not None:
                events.insert(0, self._admission_transition(meta, persisted, admitted))
            if decision.transition is not None:
                log_transition(meta.namespace, meta.name, decision.transition)
            if decision.restarted_workers:
                self.metrics.worker_restarts.labels(meta.namespace).inc(decision.restarted_workers)
        else:
            events = []
        self.metrics.observe_phase(meta.namespace, meta.name, decision.status.phase)
        created = await self._act(meta, job, decision, pods)
        if patch is not None:  # the first written pass also tells what create_ahead made
            created = self._created_ahead.pop(meta.uid or meta.name, None) or created
        await self._post_events(meta, with_workers_created(events, created))
        return decision.requeue_after

    async def _act(
        self, meta: ObjectMeta, job: TrainingJobResource, decision: Decision, pods: Sequence[PodView]
    ) -> str | None:
        """Carry the decision out; returns what was said of worker pods created (None: none were)."""
        status = decision.status
        created = None
        await self._release_pods(meta, job, pods, archive=True)
        if decision.archive_attempt is not None:
            # Pods the finalizer holds are archived when they have ended (their whole log); older ones now.
            attempt_pods = [p for p in pods if p.attempt == decision.archive_attempt and not p.held]
            await self._archive_logs(meta, job, decision.archive_attempt, attempt_pods)
        if decision.delete_pods:
            await asyncio.gather(*(
                self.client.delete("Pod", meta.namespace, name, decision.delete_grace_seconds)
                for name in decision.delete_pods
            ))  # fmt: skip
        if decision.create_workers and status.phase not in FINISHED_PHASES:
            created = await self._create_workers(meta, job, status, pods)
        if decision.remove_children and meta.uid not in self._children_removed:
            await self._remove_children(meta, job, pods)
        return created

    async def _context(self, meta: ObjectMeta, job: TrainingJobResource) -> JobContext | None:
        uid = meta.uid or meta.name
        dataset = self._datasets.get(uid)
        if dataset is None:
            raw = await self._find_dataset(meta.namespace, job.spec.dataset_ref.name)
            if raw is None:
                logger.warning(
                    "dataset %s of %s/%s is gone", job.spec.dataset_ref.name, meta.namespace, meta.name
                )
                return None
            dataset = DatasetResource.from_k8s(raw).spec
            self._datasets[uid] = dataset
        products = tuple(self.catalog.gpu(job.spec.gpu_type).products)
        return JobContext(
            name=meta.name, namespace=meta.namespace, uid=uid, spec=job.spec, dataset=dataset,
            settings=self.settings, gpu_products=products,
        )  # fmt: skip

    async def _create_workers(
        self, meta: ObjectMeta, job: TrainingJobResource, status: TrainingJobStatus, pods: Sequence[PodView]
    ) -> str | None:
        """Create the attempt's missing worker pods (support objects first); returns what was created, if any."""
        ctx = await self._context(meta, job)
        if ctx is None:
            return None
        if ctx.uid not in self._support_ready:
            # All before the pods: a pod naming a missing ServiceAccount is refused by admission. Roles come first:
            # kube-apiserver's RBAC escalation check reads the Role a new RoleBinding names, and refuses the
            # binding (404) while the Role does not exist yet; the rest in any order.
            support = build_support_objects(ctx)
            roles = [m for m in support if m["kind"] == "Role"]
            await asyncio.gather(*(self.client.create(m) for m in roles))
            await asyncio.gather(*(self.client.create(m) for m in support if m["kind"] != "Role"))
            self._support_ready.add(ctx.uid)
        expected = self._pods_expected(ctx.uid, pods)
        present = {p.index for p in pods if p.attempt == status.attempts}
        present |= {index for attempt, index in expected if attempt == status.attempts}
        wanted = [
            (i, pod) for i, pod in enumerate(build_worker_pods(ctx, status.attempts, trainer_resume_point(status)))
            if i not in present
        ]  # fmt: skip
        created = await asyncio.gather(*(self.client.create(pod) for _, pod in wanted))
        # Made now, or found made by an earlier pass or operator (409): there either way.
        for index, _ in wanted:
            expected[(status.attempts, index)] = time.monotonic()
        if not any(created):
            return None
        resuming = f", resuming from {status.resumed_from}" if status.resumed_from else ""
        return f"created {sum(created)} worker pod(s) for attempt {status.attempts}{resuming}"

    def _pods_expected(self, uid: str, pods: Sequence[PodView]) -> dict[tuple[int, int], float]:
        """The job's pods created but not yet shown by the watch (those it shows, or too old, are dropped)."""
        expected = self._expected_pods.setdefault(uid, {})
        seen = {(p.attempt, p.index) for p in pods}
        now = time.monotonic()
        for key, created in list(expected.items()):
            if key in seen or now - created > EXPECT_CREATED_SECONDS:
                del expected[key]
        return expected

    async def _archive_logs(
        self, meta: ObjectMeta, job: TrainingJobResource, attempt: int, pods: Sequence[PodView]
    ) -> None:
        if not pods:
            return
        ctx = await self._context(meta, job)
        if ctx is None:
            return
        texts = await asyncio.gather(*(
            self.client.read_log(meta.namespace, p.name, self.settings.log_tail_bytes, names.TRAINER_CONTAINER)
            for p in pods
        ))  # fmt: skip
        logs = {p.index: text for p, text in zip(pods, texts, strict=True)}
        await self.client.create(build_logs_config_map(ctx, attempt, logs))

    async def _release_pods(
        self, meta: ObjectMeta, job: TrainingJobResource | None, pods: Sequence[PodView], archive: bool
    ) -> None:
        """Deleted workers that have ended: archive each one's whole log (``archive``), then let the pod go."""
        now = utcnow()

        def overdue(pod: PodView) -> bool:
            # A kubelet that never reports the end (node lost), or an archive that keeps failing: give up on the
            # log rather than keep the pod forever.
            deadline = pod.deletion_deadline
            return deadline is not None and (now - deadline).total_seconds() > RELEASE_AFTER_SECONDS

        done = [p for p in pods if p.held and p.deleting and (p.terminated or overdue(p))]
        if not done:
            return
        if archive and job is not None:
            archived = await asyncio.gather(
                *(self._archive_pod_log(meta, job, p) for p in done), return_exceptions=True
            )
            for pod, result in zip(done, archived, strict=True):
                if isinstance(result, Exception):
                    logger.warning("cannot archive the log of %s/%s: %s", meta.namespace, pod.name, result)
            # A failed archive is tried again on the next pass (the pod stays until it works or is overdue).
            done = [
                p for p, r in zip(done, archived, strict=True) if not isinstance(r, Exception) or overdue(p)
            ]
        results = await asyncio.gather(
            *(self._drop_finalizer(meta.namespace, p) for p in done), return_exceptions=True
        )
        for pod, result in zip(done, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, ConflictError):
                logger.warning("cannot release pod %s/%s: %s", meta.namespace, pod.name, result)

    async def _drop_finalizer(self, namespace: str, pod: PodView) -> None:
        """Guarded by the pod's resourceVersion: another controller's finalizer added meanwhile is not dropped
        (a conflict is retried on the next pass, which the pod's change brings)."""
        rest = [f for f in pod.finalizers if f != names.LOG_ARCHIVE_FINALIZER]
        await self.client.patch(
            "Pod",
            namespace,
            pod.name,
            {"metadata": {"finalizers": rest, "resourceVersion": pod.resource_version}},
        )

    async def _archive_pod_log(self, meta: ObjectMeta, job: TrainingJobResource, pod: PodView) -> None:
        """Put ``pod``'s log into its attempt's archive (created by the first worker to end)."""
        text = await self.client.read_log(
            meta.namespace, pod.name, self.settings.log_tail_bytes, names.TRAINER_CONTAINER
        )
        if not text:
            # Nothing to add, or the pod was already released (a pass on a view that lags our own finalizer patch):
            # never overwrite what was archived with nothing.
            return
        name = names.logs_config_map_name(meta.name, pod.attempt)
        data = {"data": {names.worker_log_key(pod.index): text}}
        if await self.client.patch("ConfigMap", meta.namespace, name, data):
            return
        ctx = await self._context(meta, job)
        if ctx is None:
            return
        if not await self.client.create(build_logs_config_map(ctx, pod.attempt, {pod.index: text})):
            await self.client.patch("ConfigMap", meta.namespace, name, data)  # another worker's came first

    async def _remove_children(
        self, meta: ObjectMeta, job: TrainingJobResource, pods: Sequence[PodView]
    ) -> None:
        """After ``ttlSecondsAfterFinished``: everything but the checkpoints and the archived logs."""
        doomed = [("Pod", p.name) for p in pods] + [
            *([("Service", names.service_name(meta.name))] if job.spec.max_workers > 1 else []),
            ("ConfigMap", names.config_map_name(meta.name)),
        ]
        await asyncio.gather(*(self.client.delete(kind, meta.namespace, name) for kind, name in doomed))
        self._children_removed.add(meta.uid or meta.name)
        await self._post_events(
            meta, [JobEvent("Normal", "ChildrenRemoved", "ttlSecondsAfterFinished passed")]
        )

    async def finalize(self, obj: dict[str, Any], pods: Sequence[PodView]) -> bool:
        """On deletion: stop running workers and make usage final. True once no worker is left."""
        obj = self._freshest(obj)
        meta = ObjectMeta.model_validate(obj.get("metadata") or {})
        status = TrainingJobStatus.model_validate(obj.get("status") or {})
        alive = [p for p in pods if not p.deleting]
        await asyncio.gather(*(
            self.client.delete("Pod", meta.namespace, p.name, self.settings.termination_grace_period_seconds)
            for p in alive
        ))  # fmt: skip
        await self._release_pods(meta, None, pods, archive=False)  # the archive goes with the job
        try:
            job = self._parse(obj)
        except ConfigurationError:
            return not pods
        gpu_type = self.catalog.resolve(job.spec.gpu_type)
        decision = decide(
            JobView(meta.name, meta.generation or 1, job.spec, status),
            split_pods(pods)[0], utcnow(), self.timing, self.catalog.gpu(gpu_type).price_per_hour,
        )  # fmt: skip
        final = decision.status.model_copy(update={"phase": status.phase, "conditions": status.conditions})
        if status.phase not in FINISHED_PHASES and status.phase is not None:
            final.phase = JobPhase.CANCELLED
            final.completed_at = utcnow()
        patch = status_patch(status, final, utcnow(), 0.0, workers_running=False)
        if patch is not None:
            try:
                await self._patch(meta, patch)
                self._count_usage(meta, str(gpu_type), status, final)
            except ConflictError:
                return False
        if not pods:
            if meta.annotations.get(names.PURGE_CHECKPOINTS_ANNOTATION) == "true":
                # Only now: a worker still stopping could be writing a checkpoint onto the claim.
                await self.client.delete(
                    "PersistentVolumeClaim", meta.namespace, names.checkpoint_claim_name(meta.name)
                )
            self.metrics.observe_phase(meta.namespace, meta.name, None)
            self._forget(meta)
        return not pods

    def _forget(self, meta: ObjectMeta) -> None:
        uid = meta.uid or meta.name
        self._datasets.pop(uid, None)
        self._specs.pop(uid, None)
        self._support_ready.discard(uid)
        self._expected_pods.pop(uid, None)
        self._admitted_ahead.pop(uid, None)
        self._created_ahead.pop(uid, None)
        self._children_removed.discard(uid)
        self._fresh.pop(uid, None)

    async def _patch(self, meta: ObjectMeta, patch: dict[str, Any]) -> dict[str, Any]:
        fresh = await self.client.patch_status(
            "TrainingJob", meta.namespace, meta.name, patch, meta.resource_version
        )
        self._fresh[meta.uid or meta.name] = (meta.resource_version, fresh)
        return fresh

    async def _write(
        self, meta: ObjectMeta, old: TrainingJobStatus, new: TrainingJobStatus
    ) -> dict[str, Any] | None:
        patch = status_patch(old, new, utcnow(), 0.0, workers_running=False)
        if patch is None:
            return None
        fresh = await self._patch(meta, patch)  # ConflictError: the caller decides again on a fresh view
        if old.phase != new.phase and new.phase is not None:
            await self._post_events(meta, [self._admission_transition(meta, old, new)])
        self.metrics.observe_phase(meta.namespace, meta.name, new.phase)
        return fresh

    def _admission_transition(
        self, meta: ObjectMeta, old: TrainingJobStatus, new: TrainingJobStatus
    ) -> JobEvent:
        """Logs admission's phase change (queued → pending, or → failed when refused) and returns its event."""
        before, after = old.phase, new.phase or JobPhase.PENDING
        failed = after == JobPhase.FAILED
        message = new.error.message if failed and new.error else f"{before or 'queued'} → {after}"
        reason = new.error.reason if failed and new.error else str(after).capitalize()
        admitted = condition(new, ConditionType.ADMITTED)
        if not failed and admitted is not None and admitted.status != ConditionStatus.TRUE:
            reason, message = admitted.reason, admitted.message  # waiting (for its dataset): say for what
        log_transition(
            meta.namespace,
            meta.name,
            PhaseChange(
                before or JobPhase.QUEUED,
                after,
                new.attempts,
                admitted.reason if admitted else reason,
                admitted.message if admitted else message,
            ),
        )
        return JobEvent("Warning" if failed else "Normal", reason, message)

    def _count_usage(
        self, meta: ObjectMeta, gpu_type: str, old: TrainingJobStatus, new: TrainingJobStatus
    ) -> None:
        before = old.resource_usage.gpu_seconds if old.resource_usage else 0.0
        after = new.resource_usage.gpu_seconds if new.resource_usage else 0.0
        cost_before = old.resource_usage.cost if old.resource_usage else 0.0
        cost_after = new.resource_usage.cost if new.resource_usage else 0.0
        if after > before:
            self.metrics.gpu_seconds.labels(meta.namespace, gpu_type).inc(after - before)
        if cost_after > cost_before:
            self.metrics.cost.labels(meta.namespace, gpu_type).inc(cost_after - cost_before)

    async def _post_events(self, meta: ObjectMeta, events: Sequence[JobEvent]) -> None:
        if not events:
            return
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        manifests = [
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{meta.name}.", "namespace": meta.namespace},
                "involvedObject": {
                    "apiVersion": "training.tensorone.ai/v1",
                    "kind": "TrainingJob",
                    "name": meta.name,
                    "namespace": meta.namespace,
                    "uid": meta.uid,
                    "resourceVersion": meta.resource_version,
                },
                "type": event.type,
                "reason": event.reason,
                "message": event.message[:1024],
                "source": {"component": names.MANAGED_BY},
                "reportingComponent": names.MANAGED_BY,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            for event in events
        ]
        results = await asyncio.gather(*(self.client.create(m) for m in manifests), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.warning("cannot post an event for %s/%s: %s", meta.namespace, meta.name, result)
