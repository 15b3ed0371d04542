"""The sandbox's kubelet: registers GPU nodes with a real API server and runs the pods bound to them.

It does, through the API and nothing else, what a kubelet does on a GPU node:

* registers each Node (GPU capacity, GPU Feature Discovery labels, Ready condition, its log endpoint in
  ``daemonEndpoints``) and renews its Lease in ``kube-node-lease``;
* watches the pods bound to its nodes; for each, a network namespace with the pod's own IP
  (:mod:`.network`), volumes as folders (PVCs at their PersistentVolume's path, ConfigMaps, Secrets, projected
  ServiceAccount tokens issued by the API server's TokenRequest), then each container as a local process in its
  own mount and UTS namespace, as the securityContext's user (:mod:`.containerinit`);
* reports pod status (phase, conditions, container states, exit codes, termination messages, pod IP), posts
  events, and on deletion sends SIGTERM, waits the grace period, SIGKILLs and finally deletes the pod;
* serves ``/containerLogs`` over TLS with client-certificate authentication, so ``kubectl logs`` works through
  the API server as on a cluster;
* writes each pod's ``/etc/hosts`` with the pod and headless-Service names of the cluster (the sandbox has no
  cluster DNS; names resolve to pod IPs).

Images are not pulled: a container's ``command`` runs with this machine's Python (see :mod:`.environment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tensorone.facade.kube import UNANSWERED, KubeClient, KubeError, Resource
from tensorone.sandbox.config import NodeSpec
from tensorone.sandbox.controlplane import DIE_WITH_PARENT
from tensorone.sandbox.environment import (
    SERVICE_ACCOUNT_DIR,
    ContainerConfigError,
    Obj,
    base_environment,
    container_environment,
    materialise_volumes,
    rewrite_file_paths,
    rewrite_paths,
)
from tensorone.sandbox.hosts import pod_names, service_names
from tensorone.sandbox.network import PodNetwork
from tensorone.sandbox.nodes import build_node
from tensorone.sandbox.pki import Pki

logger = logging.getLogger(__name__)

PODS = Resource("", "v1", "pods")
NODES = Resource("", "v1", "nodes", namespaced=False)
EVENTS = Resource("", "v1", "events")
SERVICES = Resource("", "v1", "services")
PVCS = Resource("", "v1", "persistentvolumeclaims")
PVS = Resource("", "v1", "persistentvolumes", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases")
MAX_TERMINATION_MESSAGE = 4096
LEASE_SECONDS = 40
# A request the API server did not answer is sent again after this, doubling up to the max (until_answered).
REPORT_RETRY_FIRST_SECONDS = 0.2
REPORT_RETRY_MAX_SECONDS = 5.0
# A pod whose network or containers could not be set up is tried again after this, doubling up to the max.
SYNC_RETRY_FIRST_SECONDS = 1.0
SYNC_RETRY_MAX_SECONDS = 10.0
# Where a container finds its volumes, workdir and home: a tmpfs mounted in its own mount namespace.
STAGE = Path("/run/tensorone-pod")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _retryable(error: KubeError) -> bool:
    """Answers worth asking again: throttled, timed out or failing on the server's side."""
    return error.status in (408, 429) or error.status >= 500


async def until_answered(call: Callable[[], Awaitable[Obj]], what: str) -> Obj:
    """``call``'s answer, asked again with backoff while the API server gives none or a passing failure (a slow
    server under load); a refusal for good (404 gone, 409, 422) is raised. ``call`` is made anew each time, so what
    it sends is current. Like the real kubelet's syncs: a watch event is seen once, and a lost final report would
    leave a finished pod Running forever, and whatever waits on it (a job, a data check, a claim) waiting too."""
    delay = REPORT_RETRY_FIRST_SECONDS
    while True:
        try:
            return await call()
        except KubeError as exc:
            if not _retryable(exc):
                raise
            problem: Exception = exc
        except UNANSWERED as exc:
            problem = exc
        logger.info("%s: no answer (%s); again in %.1fs", what, type(problem).__name__, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, REPORT_RETRY_MAX_SECONDS)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s crashed", task.get_name(), exc_info=task.exception())


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


async def list_watch(
    client: KubeClient,
    resource: Resource,
    on_event: Callable[[str, Obj], Awaitable[None]],
    *,
    namespace: str | None = None,
    field_selector: str | None = None,
) -> None:
    """List, then watch from the list's resourceVersion; relist on 410 Gone or a broken watch. Runs until
    cancelled. Every object is handed to ``on_event`` as ADDED/MODIFIED/DELETED, in order."""
    while True:
        params: dict[str, str] = {}
        if field_selector:
            params["fieldSelector"] = field_selector
        try:
            listing = await client.request("GET", resource.path(namespace), params=params)
        except (KubeError, *UNANSWERED) as exc:
            logger.debug("list %s failed: %s", resource.plural, exc)
            await asyncio.sleep(1)
            continue
        for item in listing.get("items") or []:
            await _handle(on_event, "ADDED", item, resource)
        version = listing["metadata"]["resourceVersion"]
        while True:
            watch_params = {**params, "watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
            watch_params["timeoutSeconds"] = "300"
            buffer = b""
            gone = False
            try:
                async for chunk in client.stream_lines(resource.path(namespace), watch_params):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            gone = obj.get("code") == 410
                            break
                        version = obj.get("metadata", {}).get("resourceVersion", version)
                        if event.get("type") != "BOOKMARK":
                            await _handle(on_event, event["type"], obj, resource)
                    if gone:
                        break
            except KubeError as exc:
                gone = exc.status == 410
            except (OSError, ValueError, Exception) as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                logger.debug("watch %s broke: %s", resource.plural, exc)
                await asyncio.sleep(0.5)
            if gone:
                break


async def _handle(
    on_event: Callable[[str, Obj], Awaitable[None]], kind: str, obj: Obj, resource: Resource
) -> None:
    """``on_event``, its failure logged with the traceback: the watch goes on from the next event (the failing one
    is seen again only at the next relist)."""
    try:
        await on_event(kind, obj)
    except Exception:
        meta = obj.get("metadata") or {}
        logger.exception(
            "%s %s/%s: handling %s failed", resource.plural, meta.get("namespace"), meta.get("name"), kind
        )


@dataclass
class ContainerRun:
    """One container of a pod: its process, log file and state."""

    name: str
    log_path: Path
    message_path: Path
    process: asyncio.subprocess.Process | None = None
    started_at: str | None = None
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    restarts: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    container_id: str = ""


@dataclass
class PodRun:
    """The kubelet's record of one pod it runs."""

    namespace: str
    name: str
    uid: str
    node: str
    directory: Path
    containers: dict[str, ContainerRun]
    pod: Obj
    ip: str = ""
    task: asyncio.Task[None] | None = None
    killer: asyncio.Task[None] | None = None
    terminating: bool = False
    finished: bool = False
    report_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Kubelet:
    """Runs the pods bound to the sandbox's nodes (one agent for all of them)."""

    def __init__(
        self,
        client: KubeClient,
        directory: Path,
        nodes: list[NodeSpec],
        network: PodNetwork,
        pki: Pki,
        api_port: int,
        *,
        masked: list[Path] | None = None,
        run_pods: bool | str = True,
    ) -> None:
        self.client = client
        self.dir = directory
        self.node_specs = nodes
        self.network = network
        self.pki = pki
        self.api_port = api_port
        # Every pod's folders on this machine (volumes, projected tokens, logs) are hidden from containers, as a
        # node's kubelet directory is from its pods: a container reaches only its own volumes, bound under STAGE.
        self.masked = [*(masked or []), directory / "pods"]
        self.run_pods = run_pods
        self.runs: dict[str, PodRun] = {}  # uid -> run
        self.by_name: dict[tuple[str, str], PodRun] = {}  # (namespace, name) -> latest run, for logs
        self.services: dict[tuple[str, str], Obj] = {}
        self.log_ports: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._runners: list[web.AppRunner] = []
        self._hosts_version = 0

    # -- start and stop ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the log endpoints, register the nodes, then follow pods and services."""
        for spec in self.node_specs:
            self.log_ports[spec.name] = await self._serve_logs()
        for spec in self.node_specs:
            await self._register(spec)
        for spec in self.node_specs:
            self._tasks.append(asyncio.create_task(self._renew_lease(spec.name), name=f"lease-{spec.name}"))
            self._tasks.append(
                asyncio.create_task(
                    list_watch(self.client, PODS, self._on_pod, field_selector=f"spec.nodeName={spec.name}"),
                    name=f"pods-{spec.name}",
                )
            )
        self._tasks.append(asyncio.create_task(list_watch(self.client, SERVICES, self._on_service)))

    async def stop(self) -> None:
        """Kill every container, remove the pod networks, stop the loops and servers."""
        for run in list(self.runs.values()):
            run.terminating = True
            for container in run.containers.values():
                _signal(container, signal.SIGKILL)
        for run in list(self.runs.values()):
            # The pod task, and a termination under way (whose reports would wait for a server going away too).
            for task in (run.task, run.killer):
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self.network.remove_pod(run.uid)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runner in self._runners:
            await runner.cleanup()

    # -- nodes ------------------------------------------------------------------------------------------------

    async def _register(self, spec: NodeSpec) -> None:
        manifest = build_node(spec)
        status = manifest["status"]
        status["addresses"] = [
            {"type": "InternalIP", "address": self.network.gateway},
            {"type": "Hostname", "address": spec.name},
        ]
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.log_ports[spec.name]}}
        now = now_rfc3339()
        for condition in status["conditions"]:
            condition["lastHeartbeatTime"] = now
            condition["lastTransitionTime"] = now
        try:
            await self.client.create(NODES, None, manifest)
        except KubeError as exc:
            if exc.status != 409:
                raise
            await self.client.merge_patch(
                NODES, None, spec.name, {"metadata": {"labels": manifest["metadata"]["labels"]}}
            )
            await self.client.request(
                "PATCH", NODES.path(None, spec.name, "status"), body={"status": status},
                content_type="application/merge-patch+json",
            )  # fmt: skip

    async def _renew_lease(self, node: str) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": node,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_time(),
            },
        }
        while True:
            try:
                try:
                    await self.client.merge_patch(
                        LEASES, "kube-node-lease", node, {"spec": {"renewTime": _micro_time()}}
                    )
                except KubeError as exc:
                    if exc.status != 404:
                        raise
                    await self.client.create(LEASES, "kube-node-lease", lease)
            except (KubeError, *UNANSWERED) as exc:
                logger.debug("lease of %s not renewed: %s", node, exc)
            await asyncio.sleep(10)

    # -- names --------------------------------------------------------------------------------------------------

    async def _on_service(self, kind: str, svc: Obj) -> None:
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        if kind == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = svc
        self._write_hosts()

    def _cluster_names(self) -> dict[tuple[str, str | None], set[str]]:
        """(name, namespace it is visible from, or None for everywhere) -> pod IPs, for every pod with a
        subdomain and every headless Service's pods. Relative names (``host.subdomain``, ``service``) resolve
        only from their own namespace, as a pod's DNS search path makes them."""
        names: dict[tuple[str, str | None], set[str]] = {}
        running = [r for r in self.runs.values() if r.ip and not r.finished]
        for run in running:
            spec = run.pod.get("spec") or {}
            if not spec.get("subdomain"):
                continue
            hostname = spec.get("hostname") or run.name
            relative, *absolute = pod_names(hostname, spec["subdomain"], run.namespace)[1:]
            names.setdefault((relative, run.namespace), set()).add(run.ip)
            for name in absolute:
                names.setdefault((name, None), set()).add(run.ip)
        for (namespace, svc_name), svc in self.services.items():
            spec = svc.get("spec") or {}
            selector = spec.get("selector") or {}
            if spec.get("clusterIP") != "None" or not selector:
                continue
            for run in running:
                labels = run.pod["metadata"].get("labels") or {}
                if run.namespace == namespace and all(labels.get(k) == v for k, v in selector.items()):
                    relative, *absolute = service_names(svc_name, namespace)
                    names.setdefault((relative, namespace), set()).add(run.ip)
                    for name in absolute:
                        names.setdefault((name, None), set()).add(run.ip)
        return names

    def _write_hosts(self) -> None:
        """Rewrite every running pod's /etc/hosts in place (the file is bind-mounted: its inode must stay)."""
        names = self._cluster_names()
        for run in self.runs.values():
            if run.finished or not run.ip:
                continue
            self._write_pod_hosts(run, names)

    def _write_pod_hosts(self, run: PodRun, names: dict[tuple[str, str | None], set[str]]) -> None:
        spec = run.pod.get("spec") or {}
        hostname = spec.get("hostname") or run.name
        own = " ".join(dict.fromkeys(reversed(pod_names(hostname, spec.get("subdomain"), run.namespace))))
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{run.ip}\t{own}"]
        for (name, scope), ips in sorted(names.items(), key=lambda item: item[0][0]):
            if scope is None or scope == run.namespace:
                lines += [f"{ip}\t{name}" for ip in sorted(ips)]
        text = "\n".join(lines) + "\n"
        path = run.directory / "etc-hosts"
        with contextlib.suppress(OSError), open(path, "a+") as handle:
            handle.seek(0)
            if handle.read() == text:
                return
            handle.seek(0)
            handle.truncate()
            handle.write(text)

    # -- pods -----------------------------------------------------------------------------------------------------

    async def _on_pod(self, kind: str, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        run = self.runs.get(uid)
        if kind == "DELETED":
            if run is not None:
                run.pod = pod
                if not run.terminating:
                    run.terminating = True
                    run.killer = asyncio.create_task(self._terminate(run, 0, delete=False))
            return
        if run is not None:
            run.pod = pod
        if meta.get("deletionTimestamp"):
            if run is None:
                await self._delete_now(meta["namespace"], meta["name"], uid)
            elif not run.terminating:
                run.terminating = True
                grace = int(meta.get("deletionGracePeriodSeconds") or 0)
                run.killer = asyncio.create_task(self._terminate(run, grace, delete=True))
            return
        if self.run_pods == "simulate":
            await self._simulate(pod)
            return
        if not self.run_pods:
            return
        if run is None and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            run = self._prepare(pod)
            self.runs[uid] = run
            self.by_name[(run.namespace, run.name)] = run
            run.task = asyncio.create_task(self._run_pod(run), name=f"pod-{run.namespace}-{run.name}")
            run.task.add_done_callback(_log_crash)

    async def _simulate(self, pod: Obj) -> None:
        """For control-plane benchmarks: a bound pod is Running at once (no process, no network), a deleted
        one gone at once, each with one API call, as a kubelet with instant containers would report."""
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            await self._delete_now(meta["namespace"], meta["name"], meta["uid"])
            return
        if (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
            return
        now = now_rfc3339()
        status = {
            "phase": "Running",
            "startTime": now,
            "hostIP": self.network.gateway,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now} for t in ("Initialized", "Ready", "ContainersReady")
            ],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "started": True,
                 "restartCount": 0, "state": {"running": {"startedAt": now}}}
                for c in pod["spec"]["containers"]
            ],
        }  # fmt: skip
        with contextlib.suppress(KubeError, *UNANSWERED):
            await self.client.request(
                "PATCH", PODS.path(meta["namespace"], meta["name"], "status"), body={"status": status},
                content_type="application/merge-patch+json",
            )  # fmt: skip

    def _prepare(self, pod: Obj) -> PodRun:
        meta = pod["metadata"]
        directory = self.dir / "pods" / meta["namespace"] / meta["name"]
        directory.mkdir(parents=True, exist_ok=True)
        containers = {}
        for container in pod["spec"].get("containers") or []:
            cdir = directory / "containers" / container["name"]
            cdir.mkdir(parents=True, exist_ok=True)
            containers[container["name"]] = ContainerRun(
                container["name"], cdir / "log", cdir / "termination-log"
            )
        return PodRun(
            meta["namespace"], meta["name"], meta["uid"], pod["spec"]["nodeName"], directory, containers, pod
        )

    async def _fetch_references(self, pod: Obj) -> dict[tuple[str, str, str], Obj | None]:
        """Every ConfigMap and Secret the pod references (volumes, env, envFrom), read once from the API."""
        namespace = pod["metadata"]["namespace"]
        wanted: set[tuple[str, str]] = set()
        for volume in pod["spec"].get("volumes") or []:
            for source in (volume.get("projected") or {}).get("sources") or []:
                if "configMap" in source:
                    wanted.add(("configmaps", source["configMap"].get("name", "")))
                if "secret" in source:
                    wanted.add(("secrets", source["secret"].get("name", "")))
            if "configMap" in volume:
                wanted.add(("configmaps", volume["configMap"].get("name", "")))
            if "secret" in volume:
                wanted.add(("secrets", volume["secret"].get("secretName", "")))
        for container in pod["spec"].get("containers") or []:
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    wanted.add(("configmaps", source["configMapRef"].get("name", "")))
                if "secretRef" in source:
                    wanted.add(("secrets", source["secretRef"].get("name", "")))
            for var in container.get("env") or []:
                value_from = var.get("valueFrom") or {}
                if "configMapKeyRef" in value_from:
                    wanted.add(("configmaps", value_from["configMapKeyRef"].get("name", "")))
                if "secretKeyRef" in value_from:
                    wanted.add(("secrets", value_from["secretKeyRef"].get("name", "")))
        found: dict[tuple[str, str, str], Obj | None] = {}
        for plural, name in wanted:
            try:
                found[(plural, namespace, name)] = await self.client.get(
                    Resource("", "v1", plural), namespace, name
                )
            except KubeError as exc:
                if exc.status != 404:
                    raise ContainerConfigError(f"{plural} {name}: {exc}") from exc
                found[(plural, namespace, name)] = None
            except UNANSWERED as exc:  # tried again, like any configuration error
                raise ContainerConfigError(f"{plural} {name}: the API server did not answer") from exc
        return found

    async def _claim_folders(self, pod: Obj) -> dict[str, Path]:
        """PVC name -> the folder of its bound PersistentVolume."""
        namespace = pod["metadata"]["namespace"]
        folders: dict[str, Path] = {}
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            try:
                pvc = await self.client.get(PVCS, namespace, claim)
                pv = await self.client.get(PVS, None, pvc["spec"]["volumeName"])
            except (KubeError, KeyError) as exc:
                raise ContainerConfigError(f'persistentvolumeclaim "{claim}" is not bound') from exc
            except UNANSWERED as exc:
                raise ContainerConfigError(
                    f'persistentvolumeclaim "{claim}": the API server did not answer'
                ) from exc
            path = (pv["spec"].get("hostPath") or pv["spec"].get("local") or {}).get("path")
            if not path:
                raise ContainerConfigError(f"volume of claim {claim} has no local path")
            folders[claim] = Path(path)
        return folders

    async def _projected_tokens(self, pod: Obj) -> dict[str, str]:
        """Tokens for projected serviceAccountToken sources, bound to this pod (TokenRequest API)."""
        tokens: dict[str, str] = {}
        account = pod["spec"].get("serviceAccountName") or "default"
        for volume in pod["spec"].get("volumes") or []:
            for source in (volume.get("projected") or {}).get("sources") or []:
                request = source.get("serviceAccountToken")
                if not request:
                    continue
                body: Obj = {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {
                        "expirationSeconds": int(request.get("expirationSeconds") or 3600),
                        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                                           "uid": pod["metadata"]["uid"]},
                    },
                }  # fmt: skip
                if request.get("audience"):
                    body["spec"]["audiences"] = [request["audience"]]
                path = Resource("", "v1", "serviceaccounts").path(
                    pod["metadata"]["namespace"], account, "token"
                )
                try:
                    answer = await self.client.request("POST", path, body=body)
                except KubeError as exc:
                    raise ContainerConfigError(f"token for service account {account}: {exc}") from exc
                except UNANSWERED as exc:
                    raise ContainerConfigError(
                        f"token for service account {account}: the API server did not answer"
                    ) from exc
                tokens[request.get("path", "token")] = answer["status"]["token"]
        return tokens

    async def _run_pod(self, run: PodRun) -> None:
        commands = await self._set_up(run)
        if commands is None:
            return
        restart_policy = run.pod["spec"].get("restartPolicy", "Always")
        await asyncio.gather(
            *(self._run_container(run, spec, *commands[spec["name"]], restart_policy)
              for spec in run.pod["spec"]["containers"]),
            return_exceptions=True,
        )  # fmt: skip
        run.finished = True
        await self._report(run)
        self.network.remove_pod(run.uid)
        self._write_hosts()

    async def _set_up(self, run: PodRun) -> dict[str, tuple[list[str], dict[str, str], Path]] | None:
        """The pod's network, then its containers' volumes, env and argv (None: the pod was deleted first).

        As a kubelet's pod sync: what fails here is reported on the pod and tried again with backoff until it
        passes or the pod is deleted, never left Pending without a word."""
        delay = SYNC_RETRY_FIRST_SECONDS
        while not run.terminating:
            if not run.ip:
                try:
                    run.ip = await self.network.add_pod_async(run.uid)
                except Exception as exc:
                    logger.warning("network of pod %s/%s not set up: %s", run.namespace, run.name, exc)
                    await self._wait_pod(run, "CreatePodSandboxError", f"Failed to create pod sandbox: {exc}")
                else:
                    run.pod.setdefault("status", {}).update({"podIP": run.ip, "hostIP": self.network.gateway})
                    self._write_hosts()
            if run.ip:
                try:
                    return await self._setup(run)
                except ContainerConfigError as exc:
                    await self._wait_pod(run, "CreateContainerConfigError", str(exc))
                except Exception as exc:
                    logger.exception("containers of pod %s/%s not set up", run.namespace, run.name)
                    await self._wait_pod(run, "CreateContainerError", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, SYNC_RETRY_MAX_SECONDS)
        return None

    async def _wait_pod(self, run: PodRun, reason: str, message: str) -> None:
        """Every container waiting for ``reason``, on the pod's status and as a Warning event."""
        for container in run.containers.values():
            container.state = {"waiting": {"reason": reason, "message": message}}
        await self._report(run)
        await self._event(run, "Warning", "Failed", f"Error: {message}")

    async def _setup(self, run: PodRun) -> dict[str, tuple[list[str], dict[str, str], Path]]:
        """Volumes, env and argv of every container: name -> (argv, env, working dir)."""
        pod = run.pod
        references = await self._fetch_references(pod)

        def lookup(plural: str, namespace: str, name: str) -> Obj | None:
            return references.get((plural, namespace, name))

        claims = await self._claim_folders(pod)
        tokens = await self._projected_tokens(pod)
        volumes = await asyncio.to_thread(materialise_volumes, lookup, pod, run.directory, claims, tokens)
        base = base_environment(self.network.gateway, self.api_port)
        security = pod["spec"].get("securityContext") or {}
        hosts_file = run.directory / "etc-hosts"
        self._write_pod_hosts(run, self._cluster_names())
        commands: dict[str, tuple[list[str], dict[str, str], Path]] = {}
        for spec in pod["spec"]["containers"]:
            container = run.containers[spec["name"]]
            # Each volume appears inside the container under STAGE (a tmpfs of its own mount namespace), so a
            # container running as any user reaches it whatever the permissions of the folders above it here.
            binds: list[str] = []
            mounts: list[str] = []
            mapping: dict[str, str] = {}
            for mount in spec.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    continue
                if _new_top_level_folder(mount["mountPath"]) and not mount.get("subPath"):
                    # Mounted where the pod says (in a root of the container's own): nothing to rewrite, and
                    # messages name the pod's paths.
                    real = f"{volumes[mount['name']]}:{mount['mountPath'].rstrip('/')}"
                    mounts.append(real + (":ro" if mount.get("readOnly") else ""))
                    continue
                staged = STAGE / "volumes" / mount["name"]
                bind = f"{volumes[mount['name']]}:{staged}"
                if mount.get("readOnly"):
                    bind += ":ro"
                if bind not in binds:
                    binds.append(bind)
                mapping[mount["mountPath"]] = str(staged / mount.get("subPath", "")).rstrip("/")
            binds.append(f"{container.message_path}:{STAGE / 'termination-log'}")
            mapping[spec.get("terminationMessagePath", "/dev/termination-log")] = str(
                STAGE / "termination-log"
            )
            if SERVICE_ACCOUNT_DIR in mapping:
                # Libraries read the token from this fixed path: it is mounted there, not rewritten.
                binds.append(f"{volumes[_volume_at(spec, SERVICE_ACCOUNT_DIR)]}:{SERVICE_ACCOUNT_DIR}:ro")
                mapping.pop(SERVICE_ACCOUNT_DIR)
            env = container_environment(lookup, pod, spec, base, mapping)
            config_volumes = {
                v["name"] for v in pod["spec"].get("volumes") or [] if "configMap" in v or "secret" in v
            }
            for mount in spec.get("volumeMounts") or []:
                if mount["name"] in config_volumes and mount["name"] in volumes:
                    await asyncio.to_thread(rewrite_file_paths, volumes[mount["name"]], mapping)
            argv = [
                rewrite_paths(str(a), mapping) for a in (spec.get("command") or []) + (spec.get("args") or [])
            ]
            host_workdir = container.log_path.parent / "workdir"
            host_workdir.mkdir(parents=True, exist_ok=True)
            host_workdir.chmod(0o777)
            binds.append(f"{host_workdir}:{STAGE / 'workdir'}")
            workdir = (
                Path(rewrite_paths(spec["workingDir"], mapping))
                if spec.get("workingDir")
                else STAGE / "workdir"
            )
            home = run.directory / "home"
            home.mkdir(exist_ok=True)
            home.chmod(0o777)
            binds.append(f"{home}:{STAGE / 'home'}")
            env.setdefault("HOME", str(STAGE / "home"))
            context = {**security, **(spec.get("securityContext") or {})}
            uid = context.get("runAsUser")
            container.message_path.touch()
            container.message_path.chmod(0o666)
            init = [sys.executable, "-m", "tensorone.sandbox.containerinit", "--stage", str(STAGE),
                    "--hostname", str(pod["spec"].get("hostname") or run.name)[:63],
                    "--hosts-file", str(hosts_file), "--workdir", str(workdir)]  # fmt: skip
            for bind in binds:
                init += ["--bind", bind]
            for masked in self.masked:
                init += ["--mask", str(masked)]
            for real in mounts:
                init += ["--mount", real]
            if uid is not None:
                gid = context.get("runAsGroup", uid)
                groups = [*(security.get("supplementalGroups") or [])]
                if security.get("fsGroup") is not None:
                    groups.append(security["fsGroup"])
                    for folder in volumes.values():
                        with contextlib.suppress(OSError):
                            os.chown(folder, -1, int(security["fsGroup"]))
                init += ["--uid", str(uid), "--gid", str(gid), "--groups", ",".join(str(g) for g in groups)]
            workdir = host_workdir
            if not argv:
                commands[spec["name"]] = ([], env, workdir)
                continue
            prefix = [*DIE_WITH_PARENT, *self.network.nsenter_prefix(run.uid), "unshare", "--mount", "--uts", "--propagation",
                      "private", "--"]  # fmt: skip
            commands[spec["name"]] = ([*prefix, *init, "--", *argv], env, workdir)
        return commands

    async def _run_container(
        self, run: PodRun, spec: Obj, argv: list[str], env: dict[str, str], workdir: Path, restart_policy: str
    ) -> None:
        container = run.containers[spec["name"]]
        while not run.terminating:
            if not argv:
                container.state = {
                    "waiting": {
                        "reason": "CreateContainerError",
                        "message": "the sandbox runs no images: spec.containers[].command is required",
                    }
                }
                await self._report(run)
                return
            terminated = await self._start_and_wait(run, spec, argv, env, workdir)
            code = terminated["exitCode"]
            container.state = {"terminated": terminated}
            container.done.set()
            restart = not run.terminating and (
                restart_policy == "Always" or (restart_policy == "OnFailure" and code)
            )
            if not restart:
                if any("terminated" not in c.state for c in run.containers.values()):
                    # As a kubelet does: a container's end shows while its pod's other containers still run (the
                    # pod's last one is reported with the pod's phase).
                    await self._report(run)
                return
            container.restarts += 1
            container.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 1s restarting failed container={spec['name']} pod={run.name}",
                }
            }
            await self._report(run)
            await asyncio.sleep(1.0)

    async def _start_and_wait(
        self, run: PodRun, spec: Obj, argv: list[str], env: dict[str, str], workdir: Path
    ) -> Obj:
        """Run the container's process once; its ``terminated`` state."""
        container = run.containers[spec["name"]]
        container.message_path.write_text("")
        container.container_id = f"sandbox://{os.urandom(16).hex()}"
        try:
            with open(container.log_path, "ab") as log:
                container.process = await asyncio.create_subprocess_exec(
                    *argv, env=env, cwd=str(workdir), stdin=asyncio.subprocess.DEVNULL, stdout=log,
                    stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        except OSError as exc:
            # The process never started (out of processes or descriptors on a loaded machine): exit code 128 and
            # reason StartError, as a kubelet shows a runtime's failed start; restarted per the policy.
            logger.warning(
                "container %s of pod %s/%s not started: %s", spec["name"], run.namespace, run.name, exc
            )
            now = now_rfc3339()
            return {
                "exitCode": 128,
                "reason": "StartError",
                "message": str(exc),
                "startedAt": now,
                "finishedAt": now,
            }
        container.started_at = now_rfc3339()
        container.state = {"running": {"startedAt": container.started_at}}
        container.done.clear()
        await self._event(run, "Normal", "Started", f"Started container {spec['name']}")
        await self._report(run)
        returncode = await container.process.wait()
        # The container ends with its main process: whatever it left running dies with it, as when the runtime
        # tears down the container's PID namespace.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(container.process.pid, signal.SIGKILL)
        code = _exit_code(returncode)
        terminated: Obj = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": container.started_at,
            "finishedAt": now_rfc3339(),
            "containerID": container.container_id,
        }
        if returncode < 0:
            terminated["signal"] = -returncode
        message = _termination_message(spec, container, code)
        if message:
            terminated["message"] = message
        return terminated

    # -- status and events ----------------------------------------------------------------------------------

    def _status(self, run: PodRun) -> Obj:
        pod = run.pod
        statuses = []
        for spec in pod["spec"]["containers"]:
            container = run.containers[spec["name"]]
            running = "running" in container.state
            entry: Obj = {
                "name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": running,
                "started": running, "restartCount": container.restarts, "state": container.state,
            }  # fmt: skip
            if container.container_id:
                entry["containerID"] = container.container_id
            statuses.append(entry)
        states = [c.state for c in run.containers.values()]
        terminated = [s["terminated"] for s in states if "terminated" in s]
        restart_policy = pod["spec"].get("restartPolicy", "Always")
        if len(terminated) == len(states) and (
            restart_policy == "Never"
            or run.terminating
            or (all(t["exitCode"] == 0 for t in terminated) and restart_policy == "OnFailure")
        ):
            phase = "Succeeded" if all(t["exitCode"] == 0 for t in terminated) else "Failed"
        elif any("running" in s or "terminated" in s for s in states) or any(
            c.restarts for c in run.containers.values()
        ):
            phase = "Running"
        else:
            phase = "Pending"
        now = now_rfc3339()
        all_ready = all("running" in s for s in states)
        extra: Obj = {}
        if not all_ready:
            extra["reason"] = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
            if extra["reason"] == "ContainersNotReady":
                not_ready = ", ".join(n for n, c in run.containers.items() if "running" not in c.state)
                extra["message"] = f"containers with unready status: [{not_ready}]"
        ready = "True" if all_ready else "False"
        conditions = [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now, "lastProbeTime": None},
            {"type": "Ready", "status": ready, "lastTransitionTime": now, "lastProbeTime": None, **extra},
            {
                "type": "ContainersReady",
                "status": ready,
                "lastTransitionTime": now,
                "lastProbeTime": None,
                **extra,
            },
        ]
        old_status = pod.get("status") or {}
        for old in old_status.get("conditions") or []:
            same = next((c for c in conditions if c["type"] == old["type"]), None)
            if same is not None and same["status"] == old.get("status"):
                same["lastTransitionTime"] = old.get("lastTransitionTime", now)
            if old["type"] == "PodScheduled":
                conditions.insert(0, old)
        status: Obj = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.network.gateway,
            "startTime": old_status.get("startTime") or now,
            "containerStatuses": statuses,
        }
        if run.ip:
            status["podIP"] = run.ip
            status["podIPs"] = [{"ip": run.ip}]
        return status

    async def _report(self, run: PodRun) -> None:
        """Send the pod's status (as it is at each try) until the API server takes it or the pod is gone."""
        async with run.report_lock:
            try:
                updated = await until_answered(
                    lambda: self.client.request(
                        "PATCH", PODS.path(run.namespace, run.name, "status"), body={"status": self._status(run)},
                        content_type="application/merge-patch+json",
                    ),
                    f"status of {run.namespace}/{run.name}",
                )  # fmt: skip
            except KubeError as exc:  # gone (404), or refused for good
                logger.debug("status of %s/%s not reported: %s", run.namespace, run.name, exc)
                return
            if updated.get("metadata", {}).get("uid") == run.uid:
                run.pod = updated

    async def _event(self, run: PodRun, kind: str, reason: str, message: str) -> None:
        now = now_rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{run.name}.", "namespace": run.namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": run.name, "namespace": run.namespace,
                               "uid": run.uid},
            "reason": reason, "message": message, "type": kind,
            "source": {"component": "kubelet", "host": run.node},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }  # fmt: skip
        with contextlib.suppress(KubeError, *UNANSWERED):  # events are best effort, as in Kubernetes
            await self.client.create(EVENTS, run.namespace, event)

    # -- termination ----------------------------------------------------------------------------------------

    async def _terminate(self, run: PodRun, grace: int, *, delete: bool) -> None:
        for container in run.containers.values():
            _signal(container, signal.SIGTERM)
        if any(c.process and c.process.returncode is None for c in run.containers.values()):
            await self._event(run, "Normal", "Killing", "Stopping container " + ", ".join(run.containers))
        waits = [c.done.wait() for c in run.containers.values() if c.process and c.process.returncode is None]
        if waits:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace, 0)):
                    await asyncio.gather(*waits)
        for container in run.containers.values():
            _signal(container, signal.SIGKILL)
        if run.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5):
                    await run.task
        for container in run.containers.values():
            if "terminated" not in container.state:
                container.state = {
                    "terminated": {
                        "exitCode": 137, "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated",
                        "finishedAt": now_rfc3339(),
                    }
                }  # fmt: skip
        run.finished = True
        self.network.remove_pod(run.uid)
        if delete:
            await self._report(run)
            await self._delete_now(run.namespace, run.name, run.uid)
        self.runs.pop(run.uid, None)
        self._write_hosts()

    async def _delete_now(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's final delete (grace 0, only this incarnation of the pod), until the API server answers:
        without it a gracefully deleted pod would stay in the API as Terminating."""
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        with contextlib.suppress(KubeError):  # gone already (404), or another incarnation (409)
            await until_answered(
                lambda: self.client.request("DELETE", PODS.path(namespace, name), body=body),
                f"delete of {namespace}/{name}",
            )

    # -- logs -------------------------------------------------------------------------------------------------

    async def _serve_logs(self) -> int:
        """An HTTPS server for ``/containerLogs`` that only the API server's client certificate may call."""
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.kubelet_cert), str(self.pki.kubelet_key))
        context.verify_mode = ssl.CERT_REQUIRED
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.network.gateway, 0, ssl_context=context)
        await site.start()
        self._runners.append(runner)
        server = site._server
        assert server is not None
        port: int = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return port

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, name, container_name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        run = self.by_name.get((namespace, name))
        if run is None or container_name not in run.containers:
            return web.Response(status=404, text=f"container {container_name} in pod {name} not found\n")
        container = run.containers[container_name]
        if not container.log_path.exists():
            reason = container.state.get("waiting", {}).get("reason", "ContainerCreating")
            return web.Response(
                status=400, text=f'container "{container_name}" in pod "{name}" is waiting to start: {reason}'
            )
        data = container.log_path.read_bytes()
        query = request.query
        if query.get("tailLines"):
            count = int(query["tailLines"])
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-count:]) if count > 0 else b""
        if query.get("limitBytes"):
            data = data[: int(query["limitBytes"])]
        follow = query.get("follow") in ("true", "1") and not container.done.is_set()
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        async for chunk in _follow(container, data, container.log_path.stat().st_size, follow):
            await response.write(chunk)
        await response.write_eof()
        return response


async def _follow(container: ContainerRun, first: bytes, offset: int, follow: bool) -> AsyncIterator[bytes]:
    if first:
        yield first
    if not follow:
        return
    while True:
        finished = container.done.is_set()
        with open(container.log_path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        if chunk:
            offset += len(chunk)
            yield chunk
        if finished:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await container.done.wait()


def _new_top_level_folder(mount_path: str) -> bool:
    """A mountPath the container can have at its real path without adding a folder to this machine's ``/``: its
    first component does not exist here (``/datasets``, ``/checkpoints``). Others (under ``/etc``, ``/var``…)
    are staged and rewritten."""
    top = mount_path.strip("/").split("/")[0]
    return bool(top) and ":" not in mount_path and not os.path.lexists("/" + top)


def _volume_at(spec: Obj, mount_path: str) -> str:
    return str(next(m["name"] for m in spec.get("volumeMounts") or [] if m["mountPath"] == mount_path))


def _signal(container: ContainerRun, sig: int) -> None:
    process = container.process
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _termination_message(spec: Obj, container: ContainerRun, code: int) -> str:
    with contextlib.suppress(OSError):
        text = container.message_path.read_bytes()[:MAX_TERMINATION_MESSAGE].decode(errors="replace")
        if text:
            return text
    if code and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        with contextlib.suppress(OSError):
            lines = container.log_path.read_bytes().decode(errors="replace").splitlines()[-80:]
            return "\n".join(lines)[-2048:]
    return ""
