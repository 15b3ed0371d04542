"""A local-path volume provisioner for the sandbox, as clusters have one for their default StorageClass.

Claims of the ``local-path`` StorageClass (the sandbox's default) get a PersistentVolume at
``DIR/volumes/<namespace>/<claim>`` (the folder is world-writable, as rancher's local-path-provisioner makes it,
so pods running as any user can write); the controller manager's PV binder binds them. A Released volume of a
class with ``reclaimPolicy: Delete`` loses its folder and its PersistentVolume object.

It also plays the platform team's part for datasets: every namespace gets the dataset claim the operator's
settings name (``datasetVolumeClaim``), so jobs that read datasets by path find their volume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from tensorone.facade.kube import KubeClient, KubeError, Resource
from tensorone.sandbox.kubelet import PVCS, PVS, list_watch, until_answered

logger = logging.getLogger(__name__)

PROVISIONER = "tensorone.ai/local-path"
STORAGE_CLASS = "local-path"
STORAGE_CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
_SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

Obj = dict[str, Any]


class LocalPathProvisioner:
    """Provisions and reclaims local-path volumes; creates the dataset claim in each namespace."""

    def __init__(self, client: KubeClient, volumes_root: Path, dataset_claim: str | None = None) -> None:
        self.client = client
        self.root = volumes_root
        self.dataset_claim = dataset_claim
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        with contextlib.suppress(KubeError):
            await self.client.create(STORAGE_CLASSES, None, storage_class)
        self._tasks = [
            asyncio.create_task(list_watch(self.client, PVCS, self._on_claim), name="provisioner-claims"),
            asyncio.create_task(list_watch(self.client, PVS, self._on_volume), name="provisioner-volumes"),
        ]
        if self.dataset_claim:
            self._tasks.append(
                asyncio.create_task(
                    list_watch(self.client, NAMESPACES, self._on_namespace), name="dataset-claims"
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_namespace(self, kind: str, namespace: Obj) -> None:
        name = namespace["metadata"]["name"]
        if (
            kind != "ADDED"
            or name in _SYSTEM_NAMESPACES
            or namespace.get("status", {}).get("phase") == "Terminating"
        ):
            return
        assert self.dataset_claim is not None
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": self.dataset_claim, "namespace": name},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": STORAGE_CLASS,
                "resources": {"requests": {"storage": "100Gi"}},
            },
        }
        with contextlib.suppress(KubeError):  # 409: there already
            await until_answered(
                lambda: self.client.create(PVCS, name, claim), f"claim {name}/{self.dataset_claim}"
            )

    async def _on_claim(self, kind: str, claim: Obj) -> None:
        meta, spec = claim["metadata"], claim.get("spec") or {}
        if kind == "DELETED" or spec.get("volumeName") or meta.get("deletionTimestamp"):
            return
        if spec.get("storageClassName") != STORAGE_CLASS:
            return
        folder = self.root / meta["namespace"] / meta["name"]
        await asyncio.to_thread(_make_folder, folder)
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": STORAGE_CLASS,
                "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                             "name": meta["name"], "uid": meta["uid"]},
            },
        }  # fmt: skip
        try:
            await until_answered(
                lambda: self.client.create(PVS, None, volume), f"volume of {meta['namespace']}/{meta['name']}"
            )
        except KubeError as exc:
            if exc.status != 409:
                logger.warning("volume for %s/%s not provisioned: %s", meta["namespace"], meta["name"], exc)

    async def _on_volume(self, kind: str, volume: Obj) -> None:
        meta, spec = volume["metadata"], volume.get("spec") or {}
        if (meta.get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            return
        if kind == "DELETED" or (volume.get("status") or {}).get("phase") != "Released":
            return
        if spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        path = Path((spec.get("hostPath") or {}).get("path", ""))
        if path.is_relative_to(self.root):
            await asyncio.to_thread(shutil.rmtree, path, True)
        with contextlib.suppress(KubeError):
            await until_answered(
                lambda: self.client.delete(PVS, None, meta["name"]), f"delete of volume {meta['name']}"
            )


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
