"""The facade's view of its only store, the TrainingJob and Dataset resources in each account's namespace.

Jobs are mirrored per namespace by an informer (list, then watch), so that List and quota checks answer from
memory and sort/filter/paginate 1,000 jobs in milliseconds. One job (Get, stop, resume, …) is read from the API
server, so what the operator, the trainer or kubectl just wrote shows at once. Writes' answers are applied to the
mirror at once (read-your-writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from tensorone.api.errors import ApiError
from tensorone.api.resources import DatasetResource, TrainingJobResource
from tensorone.catalog.gpus import GPU_PRODUCT_LABEL, GPU_RESOURCE, GpuCatalog
from tensorone.facade.kube import DATASETS, NODES, TRAINING_JOBS, JsonObj, KubeClient, KubeError, Resource
from tensorone.facade.views import JobView

logger = logging.getLogger(__name__)


def _rv(obj: JsonObj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class _ParseCache:
    """Parsed resources by (name, resourceVersion): parsing is the costly part of answering."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, JobView | None]] = {}

    def view(self, obj: JsonObj) -> JobView | None:
        meta = obj.get("metadata") or {}
        name, rv = str(meta.get("name")), str(meta.get("resourceVersion"))
        hit = self._items.get(name)
        if hit is not None and hit[0] == rv:
            return hit[1]
        try:
            view: JobView | None = JobView.of(TrainingJobResource.from_k8s(obj))
        except (ApiError, ValueError) as e:
            logger.warning("TrainingJob %s has an invalid spec and is not served: %s", name, e)
            view = None
        self._items[name] = (rv, view)
        return view

    def parse(self, obj: JsonObj) -> TrainingJobResource | None:
        view = self.view(obj)
        return None if view is None else view.job

    def drop(self, name: str) -> None:
        self._items.pop(name, None)


class JobSnapshot:
    """The namespace's servable jobs at one moment; each ordering is sorted once and reused until a change."""

    def __init__(self, views: list[JobView]):
        self.views = views
        self._orders: dict[tuple[str, bool], list[JobView]] = {}

    def ordered(self, sort: str, descending: bool) -> list[JobView]:
        """Sorted by ``sort`` (``name``, ``updated_at``, else ``created_at``), ties broken by name."""
        key = (sort, descending)
        result = self._orders.get(key)
        if result is None:
            if sort == "name":
                result = sorted(self.views, key=lambda v: (v.display_name, v.name), reverse=descending)
            elif sort == "updated_at":
                result = sorted(self.views, key=lambda v: (v.updated_at, v.name), reverse=descending)
            else:
                result = sorted(self.views, key=lambda v: (v.created_at, v.name), reverse=descending)
            self._orders[key] = result
        return result


class Informer:
    """Every object of one resource in one namespace, kept current by a watch."""

    def __init__(self, kube: KubeClient, namespace: str, resource: Resource):
        self.kube = kube
        self.namespace = namespace
        self.resource = resource
        self.objects: dict[str, JsonObj] = {}
        self.synced = asyncio.Event()
        self._resource_version = ""
        self._task: asyncio.Task[None] | None = None
        self.loop = asyncio.get_running_loop()

    async def start(self) -> None:
        if self._task is None:
            name = f"informer-{self.resource.plural}-{self.namespace}"
            self._task = asyncio.create_task(self._run(), name=name)
        await asyncio.wait_for(self.synced.wait(), timeout=self.kube.timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _relist(self) -> None:
        listing = await self.kube.list(self.resource, self.namespace)
        self.objects = {o["metadata"]["name"]: o for o in listing.get("items", [])}
        self._changed(None)
        self._resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        self.synced.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._relist()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any interruption: re-list and watch again
                logger.info("%s informer for %s interrupted (%s)", self.resource.plural, self.namespace, e)
                await asyncio.sleep(0.5)

    async def _watch(self) -> None:
        params = {"watch": "true", "resourceVersion": self._resource_version, "allowWatchBookmarks": "true"}
        buffer = b""
        async for chunk in self.kube.stream_lines(self.resource.path(self.namespace), params):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    self._on_event(json.loads(line))

    def _on_event(self, event: JsonObj) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise KubeError(int(obj.get("code", 410)), str(obj.get("reason", "Expired")), "watch ended")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self._resource_version = str(rv)
        if kind in ("ADDED", "MODIFIED"):
            self.observe(obj)
        elif kind == "DELETED":
            self.forget(obj["metadata"]["name"], _rv(obj))

    def observe(self, obj: JsonObj) -> None:
        """Apply an object seen in a write's answer or an event, unless the mirror already has a newer one."""
        name = obj["metadata"]["name"]
        current = self.objects.get(name)
        if current is None or _rv(obj) >= _rv(current) or not _rv(obj):
            self.objects[name] = obj
            self._changed(None)

    def forget(self, name: str, rv: int = 0) -> None:
        current = self.objects.get(name)
        if current is not None and (not rv or rv >= _rv(current)):
            del self.objects[name]
            self._changed(name)

    def _changed(self, deleted: str | None) -> None:
        """Called after the mirror changed (``deleted``: the name of an object it no longer has)."""


class JobInformer(Informer):
    """Every TrainingJob of one namespace, with their parsed views."""

    def __init__(self, kube: KubeClient, namespace: str):
        super().__init__(kube, namespace, TRAINING_JOBS)
        self.parsed = _ParseCache()
        self._snapshot: JobSnapshot | None = None

    def _changed(self, deleted: str | None) -> None:
        if deleted is not None:
            self.parsed.drop(deleted)
        self._snapshot = None

    def snapshot(self) -> JobSnapshot:
        """The current jobs, built again only after the mirror changed."""
        if self._snapshot is None:
            views = (self.parsed.view(o) for o in list(self.objects.values()))
            self._snapshot = JobSnapshot([v for v in views if v is not None])
        return self._snapshot

    def jobs(self) -> list[TrainingJobResource]:
        return [v.job for v in self.snapshot().views]


@dataclass(frozen=True)
class GpuOffer:
    """What the cluster's nodes offer: GPU types and the most GPUs one node has of each."""

    max_per_node: dict[str, int]

    @property
    def types(self) -> list[str]:
        return sorted(t for t, n in self.max_per_node.items() if n > 0)


class Store:
    """TrainingJobs, Datasets and Nodes, as the facade reads and writes them."""

    def __init__(self, kube: KubeClient, catalog: GpuCatalog, node_cache_seconds: float = 5.0):
        self.kube = kube
        self.catalog = catalog
        self.node_cache_seconds = node_cache_seconds
        self._informers: dict[str, JobInformer] = {}
        self._dataset_informers: dict[str, Informer] = {}
        self._offer: tuple[float, GpuOffer] | None = None

    async def _informer(self, namespace: str) -> JobInformer:
        informer = self._informers.get(namespace)
        if informer is None or informer.loop is not asyncio.get_running_loop():
            informer = self._informers[namespace] = JobInformer(self.kube, namespace)
        await informer.start()
        return informer

    async def _dataset_informer(self, namespace: str) -> Informer:
        informer = self._dataset_informers.get(namespace)
        if informer is None or informer.loop is not asyncio.get_running_loop():
            informer = self._dataset_informers[namespace] = Informer(self.kube, namespace, DATASETS)
        await informer.start()
        return informer

    async def close(self) -> None:
        for informer in [*self._informers.values(), *self._dataset_informers.values()]:
            if informer.loop is asyncio.get_running_loop():
                await informer.stop()
        self._informers.clear()
        self._dataset_informers.clear()

    # -- jobs -----------------------------------------------------------------------------------------------

    async def list_jobs(self, namespace: str) -> list[TrainingJobResource]:
        return (await self._informer(namespace)).jobs()

    async def job_snapshot(self, namespace: str) -> JobSnapshot:
        return (await self._informer(namespace)).snapshot()

    async def read_job(self, namespace: str, name: str) -> TrainingJobResource | None:
        """The job as the API server has it now (the mirror learns it too)."""
        try:
            obj = await self.kube.get(TRAINING_JOBS, namespace, name)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        informer = await self._informer(namespace)
        informer.observe(obj)
        return informer.parsed.parse(obj)

    async def create_job(self, namespace: str, manifest: JsonObj) -> TrainingJobResource:
        obj = await self.kube.create(TRAINING_JOBS, namespace, manifest)
        return await self._observed(namespace, obj)

    async def patch_job(self, namespace: str, name: str, patch: JsonObj) -> TrainingJobResource:
        obj = await self.kube.merge_patch(TRAINING_JOBS, namespace, name, patch)
        return await self._observed(namespace, obj)

    async def delete_job(self, namespace: str, name: str) -> None:
        await self.kube.delete(TRAINING_JOBS, namespace, name)
        (await self._informer(namespace)).forget(name)

    async def _observed(self, namespace: str, obj: JsonObj) -> TrainingJobResource:
        informer = await self._informer(namespace)
        informer.observe(obj)
        parsed = informer.parsed.parse(obj)
        if parsed is None:
            raise ValueError(f"the API server returned an unreadable TrainingJob {obj['metadata']['name']}")
        return parsed

    # -- datasets -------------------------------------------------------------------------------------------

    async def list_datasets(self, namespace: str) -> list[DatasetResource]:
        listing = await self.kube.list(DATASETS, namespace)
        result = []
        for obj in listing.get("items", []):
            with contextlib.suppress(ApiError, ValueError):
                result.append(DatasetResource.from_k8s(obj))
        return result

    async def get_dataset(self, namespace: str, name: str) -> DatasetResource | None:
        """The dataset from the mirror, or from the API server when the mirror has not seen it yet."""
        informer = await self._dataset_informer(namespace)
        obj = informer.objects.get(name)
        if obj is None:
            try:
                obj = await self.kube.get(DATASETS, namespace, name)
            except KubeError as e:
                if e.status == 404:
                    return None
                raise
            informer.observe(obj)
        return DatasetResource.from_k8s(obj)

    async def create_dataset(self, namespace: str, manifest: JsonObj) -> DatasetResource:
        obj = await self.kube.create(DATASETS, namespace, manifest)
        (await self._dataset_informer(namespace)).observe(obj)
        return DatasetResource.from_k8s(obj)

    async def delete_dataset(self, namespace: str, name: str) -> bool:
        informer = await self._dataset_informer(namespace)
        try:
            await self.kube.delete(DATASETS, namespace, name)
        except KubeError as e:
            if e.status == 404:
                informer.forget(name)
                return False
            raise
        informer.forget(name)
        return True

    # -- cluster --------------------------------------------------------------------------------------------

    async def gpu_offer(self) -> GpuOffer:
        """GPU types the nodes offer (``nvidia.com/gpu.product``) and their largest ``nvidia.com/gpu``."""
        now = time.monotonic()
        if self._offer is not None and now - self._offer[0] < self.node_cache_seconds:
            return self._offer[1]
        listing = await self.kube.list(NODES)
        offer: dict[str, int] = {}
        for node in listing.get("items", []):
            product = ((node.get("metadata") or {}).get("labels") or {}).get(GPU_PRODUCT_LABEL)
            gpu_type = self.catalog.type_of_product(product) if product else None
            if gpu_type is None:
                continue
            allocatable = ((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE, "0")
            try:
                count = int(str(allocatable))
            except ValueError:
                count = 0
            offer[str(gpu_type)] = max(offer.get(str(gpu_type), 0), count)
        result = GpuOffer(offer)
        self._offer = (now, result)
        return result

    async def raw(self, resource: Resource, namespace: str | None, **selectors: Any) -> list[JsonObj]:
        listing = await self.kube.list(resource, namespace, **selectors)
        items: list[JsonObj] = listing.get("items", [])
        return items
