"""The node agent (kubelet stand-in): runs bound pods' containers as local processes and reports their status.

Each container's ``command + args`` runs in its own process group with the container's env and mapped folders
(:mod:`.environment`); stdout and stderr go to a log file served by the pods/log endpoint. Status follows the
kubelet: Running with container states, then Succeeded (all exit 0, reason Completed) or Failed (reason Error,
exit code, termination message) for ``restartPolicy: Never``; OnFailure/Always restart with restartCount.
Deleting a pod sends SIGTERM to every container, waits the grace period, then SIGKILL, and removes the pod.
Process groups are killed on shutdown so nothing outlives the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
import os
import shutil
import signal
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorone.sandbox.apiserver import errors
from tensorone.sandbox.apiserver.store import Obj, Store, now_rfc3339
from tensorone.sandbox.environment import (
    SERVICE_ACCOUNT_DIR,
    ContainerConfigError,
    base_environment,
    container_environment,
    install_machine_service_account,
    materialise_volumes,
    rewrite_file_paths,
    rewrite_paths,
    service_account_folder,
)
from tensorone.sandbox.hosts import HostsResolver, pod_names, service_names
from tensorone.sandbox.scheduler import record_event

logger = logging.getLogger(__name__)

MAX_TERMINATION_MESSAGE = 4096


@dataclass
class ContainerRun:
    """One container of a pod: its process, log file and state."""

    name: str
    log_path: Path
    message_path: Path
    process: asyncio.subprocess.Process | None = None
    started_at: str | None = None
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    container_id: str = ""


@dataclass
class PodRun:
    """The agent's record of one pod it runs."""

    namespace: str
    name: str
    uid: str
    directory: Path
    containers: dict[str, ContainerRun]
    task: asyncio.Task[None] | None = None
    killer: asyncio.Task[None] | None = None
    terminating: bool = False


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class NodeAgent:
    """Runs the containers of every pod bound to a sandbox node."""

    def __init__(self, store: Store, directory: Path, *, run_pods: bool = True) -> None:
        self.store = store
        self.dir = directory
        self.run_pods = run_pods
        self.api_url = ""
        self.ca_file: Path | None = None
        self.pods: dict[str, PodRun] = {}
        self._pods_type = store.registry.get("", "v1", "pods")
        self.hosts = HostsResolver(directory, tag=hashlib.sha1(str(directory).encode()).hexdigest()[:12])

    async def run(self) -> None:
        """Reconcile pods with processes until cancelled."""
        self.hosts.install_hook()
        install_machine_service_account(self.ca_file)
        queue = self.store.subscribe()
        try:
            while True:
                self.reconcile()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await queue.get()
                    while not queue.empty():
                        queue.get_nowait()
        finally:
            self.store.unsubscribe(queue)

    def reconcile(self) -> None:
        """Start pods that got bound, terminate pods being deleted, refresh name resolution.

        Runs on every batch of store events, so it looks at the stored pods and services without copying
        them (:meth:`Store.view_objects`); only a pod it starts is copied, as that outlives this pass.
        """
        assert self._pods_type is not None
        names: list[str] = []
        for pod in self.store.view_objects(self._pods_type):
            spec = pod.get("spec") or {}
            if not spec.get("nodeName"):
                continue
            meta = pod["metadata"]
            names += pod_names(spec.get("hostname") or meta["name"], spec.get("subdomain"), meta["namespace"])
            if meta.get("deletionTimestamp"):
                self._handle_deletion(meta)
            elif self.run_pods and meta["uid"] not in self.pods:
                self._start_if_unfinished(pod)
        services = self.store.registry.get("", "v1", "services")
        assert services is not None
        for svc in self.store.view_objects(services):
            names += service_names(svc["metadata"]["name"], svc["metadata"]["namespace"])
        self.hosts.update(names)

    def _start_if_unfinished(self, pod: Obj) -> None:
        """Start the containers of a bound pod this agent does not run yet (unless it has finished)."""
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        meta = pod["metadata"]
        run = self._prepare(copy.deepcopy(pod))
        self.pods[meta["uid"]] = run
        run.task = asyncio.create_task(self._run_pod(run), name=f"pod-{meta['namespace']}-{meta['name']}")

    def _handle_deletion(self, meta: Obj) -> None:
        """Terminate a pod being deleted (once), or finish deleting one this agent does not run."""
        run = self.pods.get(meta["uid"])
        if run is None:
            self._finish_deletion(meta["namespace"], meta["name"])
        elif not run.terminating:
            run.terminating = True
            grace = int(meta.get("deletionGracePeriodSeconds") or 0)
            run.killer = asyncio.create_task(self._terminate(run, grace), name=f"kill-{meta['name']}")

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
        return PodRun(meta["namespace"], meta["name"], meta["uid"], directory, containers)

    # -- running ----------------------------------------------------------------------------------------------

    async def _run_pod(self, run: PodRun) -> None:
        assert self._pods_type is not None
        try:
            pod = self.store.get(self._pods_type, run.namespace, run.name)
        except errors.ApiError:
            return
        while True:
            try:
                mappings, envs = self._setup(pod, run)
                break
            except ContainerConfigError as exc:
                for container in run.containers.values():
                    container.state = {
                        "waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}
                    }
                self._report(run, pod)
                record_event(
                    self.store, pod, "Warning", "Failed", f"Error: {exc}", "kubelet", pod["spec"]["nodeName"]
                )
                await asyncio.sleep(1.0)
                try:
                    pod = self.store.get(self._pods_type, run.namespace, run.name)
                except errors.ApiError:
                    return
                if run.terminating:
                    return
        restart_policy = pod["spec"].get("restartPolicy", "Always")
        waits = [
            asyncio.create_task(
                self._run_container(
                    run, pod, spec, mappings[spec["name"]], envs[spec["name"]], restart_policy
                )
            )
            for spec in pod["spec"]["containers"]
        ]
        await asyncio.gather(*waits, return_exceptions=True)
        self._report(run, pod)
        if run.terminating:
            return
        self._finish_if_deleted(run)

    def _setup(self, pod: Obj, run: PodRun) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        token = f"sandbox:{run.namespace}:{pod['spec'].get('serviceAccountName', 'default')}"
        volumes = materialise_volumes(self.store, pod, run.directory, self.dir / "volumes", token)
        port = int(self.api_url.rsplit(":", 1)[1]) if self.api_url else 0
        base = base_environment(self.hosts.hook_dir, self.hosts.path, "127.0.0.1", port)
        mappings: dict[str, dict[str, str]] = {}
        envs: dict[str, dict[str, str]] = {}
        for spec in pod["spec"]["containers"]:
            container = run.containers[spec["name"]]
            mapping = {
                m["mountPath"]: str(volumes[m["name"]] / m.get("subPath", "")).rstrip("/")
                for m in spec.get("volumeMounts") or []
                if m["name"] in volumes
            }
            mapping[spec.get("terminationMessagePath", "/dev/termination-log")] = str(container.message_path)
            if pod["spec"].get("automountServiceAccountToken", True):
                folder = service_account_folder(pod, run.directory, token, self.ca_file)
                mapping.setdefault(SERVICE_ACCOUNT_DIR, str(folder))
            mappings[spec["name"]] = mapping
            envs[spec["name"]] = container_environment(self.store, pod, spec, base, mapping)
            config_volumes = {
                v["name"] for v in pod["spec"].get("volumes") or [] if "configMap" in v or "secret" in v
            }
            for mount in spec.get("volumeMounts") or []:
                if mount["name"] in config_volumes and mount["name"] in volumes:
                    rewrite_file_paths(volumes[mount["name"]], mapping)
        return mappings, envs

    async def _run_container(
        self,
        run: PodRun,
        pod: Obj,
        spec: Obj,
        mapping: dict[str, str],
        env: dict[str, str],
        restart_policy: str,
    ) -> None:
        container = run.containers[spec["name"]]
        argv = [
            rewrite_paths(str(a), mapping) for a in (spec.get("command") or []) + (spec.get("args") or [])
        ]
        workdir = (
            Path(rewrite_paths(spec["workingDir"], mapping))
            if spec.get("workingDir")
            else (container.log_path.parent / "workdir")
        )
        workdir.mkdir(parents=True, exist_ok=True)
        while not run.terminating:
            if not argv:
                container.state = {
                    "waiting": {
                        "reason": "CreateContainerError",
                        "message": "the sandbox runs no images: spec.containers[].command is required",
                    }
                }
                self._report(run, pod)
                return
            container.message_path.write_text("")
            container.container_id = f"sandbox://{os.urandom(16).hex()}"
            try:
                with open(container.log_path, "ab") as log:
                    container.process = await asyncio.create_subprocess_exec(
                        *argv,
                        env=env,
                        cwd=str(workdir),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=log,
                        stderr=asyncio.subprocess.STDOUT,
                        start_new_session=True,
                    )
            except OSError as exc:
                container.state = {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "containerID": container.container_id,
                        "message": f"failed to create containerd task: exec: {argv[0]!r}: {exc.strerror}",
                        "startedAt": "1970-01-01T00:00:00Z",
                        "finishedAt": now_rfc3339(),
                    }
                }
                self._report(run, pod)
                container.done.set()
                return
            container.started_at = now_rfc3339()
            container.state = {"running": {"startedAt": container.started_at}}
            container.done.clear()
            record_event(
                self.store,
                pod,
                "Normal",
                "Started",
                f"Started container {spec['name']}",
                "kubelet",
                pod["spec"]["nodeName"],
            )
            self._report(run, pod)
            returncode = await container.process.wait()
            # The container ends with its main process: like the kubelet tearing down the container's PID
            # namespace, whatever the main process left running dies with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(container.process.pid, signal.SIGKILL)
            code = _exit_code(returncode)
            terminated: dict[str, Any] = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": container.started_at,
                "finishedAt": now_rfc3339(),
                "containerID": container.container_id,
            }
            if returncode < 0:
                terminated["signal"] = -returncode
            message = self._termination_message(spec, container, code)
            if message:
                terminated["message"] = message
            container.state = {"terminated": terminated}
            container.done.set()
            restart = not run.terminating and (
                restart_policy == "Always" or (restart_policy == "OnFailure" and code)
            )
            if not restart:
                return
            container.last_state = container.state
            container.restarts += 1
            container.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 1s restarting failed container={spec['name']} pod={run.name}",
                }
            }
            self._report(run, pod)
            await asyncio.sleep(1.0)

    @staticmethod
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

    # -- status -----------------------------------------------------------------------------------------------

    def _report(self, run: PodRun, pod: Obj) -> None:
        assert self._pods_type is not None
        statuses = []
        for spec in pod["spec"]["containers"]:
            container = run.containers[spec["name"]]
            running = "running" in container.state
            entry: dict[str, Any] = {
                "name": spec["name"],
                "image": spec.get("image", ""),
                "imageID": "",
                "ready": running,
                "started": running,
                "restartCount": container.restarts,
                "state": container.state,
                "lastState": container.last_state,
            }
            if container.container_id:
                entry["containerID"] = container.container_id
            statuses.append(entry)
        states = [c.state for c in run.containers.values()]
        terminated = [s["terminated"] for s in states if "terminated" in s]
        restart_policy = pod["spec"].get("restartPolicy", "Always")
        now = now_rfc3339()
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
        all_ready = all("running" in s for s in states)
        ready_reason = (
            {}
            if all_ready
            else {"reason": "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"}
        )
        if ready_reason.get("reason") == "ContainersNotReady":
            not_ready = ", ".join(n for n, c in run.containers.items() if "running" not in c.state)
            ready_reason["message"] = f"containers with unready status: [{not_ready}]"
        conditions = [
            {
                "type": "PodReadyToStartContainers",
                "status": "True",
                "lastTransitionTime": now,
                "lastProbeTime": None,
            },
            {"type": "Initialized", "status": "True", "lastTransitionTime": now, "lastProbeTime": None},
            {
                "type": "Ready",
                "status": "True" if all_ready else "False",
                "lastTransitionTime": now,
                "lastProbeTime": None,
                **ready_reason,
            },
            {
                "type": "ContainersReady",
                "status": "True" if all_ready else "False",
                "lastTransitionTime": now,
                "lastProbeTime": None,
                **ready_reason,
            },
        ]
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "containerStatuses": statuses,
        }
        try:
            current = self.store.get(self._pods_type, run.namespace, run.name)
            if current["metadata"]["uid"] != run.uid:
                return
            status["startTime"] = (current.get("status") or {}).get("startTime") or now
            status["qosClass"] = (current.get("status") or {}).get("qosClass", "BestEffort")
            for old in (current.get("status") or {}).get("conditions") or []:
                same = next((c for c in conditions if c["type"] == old["type"]), None)
                if same is not None and same["status"] == old.get("status"):
                    same["lastTransitionTime"] = old.get("lastTransitionTime", now)
                if old["type"] == "PodScheduled":
                    conditions.insert(0, old)
            self.store.patch(
                self._pods_type,
                run.namespace,
                run.name,
                "application/merge-patch+json",
                {"status": status},
                subresource="status",
            )
        except errors.ApiError as exc:
            logger.debug("status of %s/%s not reported: %s", run.namespace, run.name, exc.message)

    # -- termination ----------------------------------------------------------------------------------------

    async def _terminate(self, run: PodRun, grace: int) -> None:
        for container in run.containers.values():
            self._signal(container, signal.SIGTERM)
        waits = [c.done.wait() for c in run.containers.values() if c.process and c.process.returncode is None]
        if waits:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace, 0)):
                    await asyncio.gather(*waits)
        for container in run.containers.values():
            self._signal(container, signal.SIGKILL)
        if run.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5):
                    await run.task
        assert self._pods_type is not None
        with contextlib.suppress(errors.ApiError):
            pod = self.store.get(self._pods_type, run.namespace, run.name)
            for container in run.containers.values():
                if "terminated" not in container.state:
                    container.state = {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "ContainerStatusUnknown",
                            "message": "The container could not be located when the pod was terminated",
                            "finishedAt": now_rfc3339(),
                        }
                    }
            self._report(run, pod)
        self._finish_deletion(run.namespace, run.name)
        self.pods.pop(run.uid, None)

    @staticmethod
    def _signal(container: ContainerRun, sig: int) -> None:
        process = container.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)

    def _finish_if_deleted(self, run: PodRun) -> None:
        assert self._pods_type is not None
        current = self.store.find(self._pods_type, run.namespace, run.name)
        if current is None or current["metadata"]["uid"] != run.uid:
            self.pods.pop(run.uid, None)

    def _finish_deletion(self, namespace: str, name: str) -> None:
        assert self._pods_type is not None
        with contextlib.suppress(errors.ApiError):
            self.store.delete(self._pods_type, namespace, name, {"gracePeriodSeconds": 0})

    async def shutdown(self) -> None:
        """Kill every process group the agent started and drop the /etc/hosts block."""
        for run in list(self.pods.values()):
            run.terminating = True
            for container in run.containers.values():
                self._signal(container, signal.SIGKILL)
        for run in list(self.pods.values()):
            if run.task is not None:
                run.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run.task
        self.hosts.remove()

    # -- logs -------------------------------------------------------------------------------------------------

    async def read_logs(
        self, namespace: str, name: str, params: Mapping[str, str]
    ) -> bytes | AsyncIterator[bytes]:
        """Serve ``pods/log``: whole log, ``tailLines``, ``limitBytes``, or ``follow`` until the container ends."""
        assert self._pods_type is not None
        pod = self.store.get(self._pods_type, namespace, name)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container_name = params.get("container")
        if not container_name:
            if len(names) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                )
            container_name = names[0]
        if container_name not in names:
            raise errors.bad_request(f"container {container_name} is not valid for pod {name}")
        run = self.pods.get(pod["metadata"]["uid"])
        log_path = self.dir / "pods" / namespace / name / "containers" / container_name / "log"
        if not log_path.exists():
            reason = "ContainerCreating"
            if run is not None:
                reason = run.containers[container_name].state.get("waiting", {}).get("reason", reason)
            raise errors.bad_request(
                f'container "{container_name}" in pod "{name}" is waiting to start: {reason}'
            )
        data = log_path.read_bytes()
        if params.get("tailLines"):
            lines = data.splitlines(keepends=True)
            count = int(params["tailLines"])
            data = b"".join(lines[-count:]) if count > 0 else b""
        if params.get("limitBytes"):
            data = data[: int(params["limitBytes"])]
        container = run.containers[container_name] if run is not None else None
        if params.get("follow") not in ("true", "1") or container is None or container.done.is_set():
            return data
        return self._follow(log_path, data, log_path.stat().st_size, container)

    @staticmethod
    async def _follow(path: Path, first: bytes, offset: int, container: ContainerRun) -> AsyncIterator[bytes]:
        if first:
            yield first
        while True:
            finished = container.done.is_set()
            with open(path, "rb") as handle:
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


def remove_pod_dirs(directory: Path) -> None:
    """Forget pod folders of a previous run (volumes of PVCs are kept)."""
    shutil.rmtree(directory / "pods", ignore_errors=True)
