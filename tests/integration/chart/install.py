"""Install the rendered chart into a sandbox with kubectl and run the operator and facade exactly as its
Deployments say (command, args, env, mounted ConfigMaps read back from the cluster), each with its own identity,
recording every API request so the rendered RBAC can be checked against what the programs really do."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tensorone.sandbox.testing import RunningSandbox
from tests.unit.chart.rendering import REPO, Manifest, render

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
FAKE_TRAINER = REPO / "tests" / "integration" / "controller" / "fake_trainer.py"
SYSTEM_NS = "tensorone-system"
# The sandbox has no NetworkPolicy kind; everything else the chart renders is installed.
SANDBOX_VALUES: dict[str, Any] = {
    "networkPolicy": {"enabled": False},
    "facade": {"replicas": 1},
    "catalog": {"gpus": {"a100": {"pricePerHour": 3.6}}},
    "operator": {
        "defaults": {
            "trainerImage": "sandbox/fake-trainer",
            "trainerCommand": [sys.executable, str(FAKE_TRAINER)],
            "terminationGracePeriodSeconds": 3,
            "stallWindowSeconds": 5,
        },
        "extraSettings": {"resyncSeconds": 2, "usageFlushSeconds": 1, "reportIntervalSeconds": 0.5},
    },
}


@dataclass(frozen=True)
class ApiCall:
    """One request to the API server, as RBAC sees it."""

    identity: str
    verb: str
    group: str
    resource: str
    namespace: str | None


@dataclass
class RequestLog:
    """Every API request of the chart's components, from the real API server's audit log (read afresh on every
    call, so a test can wait for a request to happen)."""

    sandbox: RunningSandbox
    release: str = "t1"

    def identity(self, username: str) -> str | None:
        prefix = f"system:serviceaccount:{SYSTEM_NS}:{self.release}-tensorone-training-"
        return username.removeprefix(prefix) if username.startswith(prefix) else None

    @property
    def calls(self) -> list[ApiCall]:
        calls = []
        for event in self.sandbox.audit_events():
            ref = event.get("objectRef")
            identity = self.identity(event.get("user", {}).get("username", ""))
            if ref is None or identity is None:
                continue
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            calls.append(
                ApiCall(identity, event["verb"], ref.get("apiGroup", ""), resource, ref.get("namespace"))
            )
        return calls

    def denied(self, identity: str) -> list[str]:
        """Requests of ``identity`` the API server refused as forbidden."""
        return [
            f"{e['verb']} {e.get('requestURI')}"
            for e in self.sandbox.audit_events()
            if self.identity(e.get("user", {}).get("username", "")) == identity
            and e.get("responseStatus", {}).get("code") == 403
        ]

    def of(self, identity: str) -> set[ApiCall]:
        return {c for c in self.calls if c.identity == identity}


def record_requests(sandbox: RunningSandbox) -> RequestLog:
    """The requests of the chart's components (the sandbox must run with ``audit=True``)."""
    return RequestLog(sandbox)


def kubeconfig_for(sandbox: RunningSandbox, identity: str, directory: Path, timeout: float = 30) -> Path:
    """A kubeconfig with the token of the installed chart's ServiceAccount for ``identity`` (operator, facade):
    the component runs with exactly the rights the chart gives it."""
    account = f"t1-tensorone-training-{identity}"
    deadline = time.monotonic() + timeout
    token = ""
    while not token:
        assert time.monotonic() < deadline, f"no token for {account}"
        secrets = kubectl(
            sandbox, "get", "serviceaccount", account, "-n", SYSTEM_NS, "-o", "jsonpath={.secrets[*].name}"
        )
        for name in secrets.split():
            data = kubectl(sandbox, "get", "secret", name, "-n", SYSTEM_NS, "-o", "jsonpath={.data.token}")
            token = base64.b64decode(data).decode()
        time.sleep(0.1)
    config = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path = directory / f"{identity}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def kubectl(sandbox: RunningSandbox, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig_path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def install(sandbox: RunningSandbox, values: dict[str, Any]) -> list[Manifest]:
    """`kubectl apply` the rendered chart (CRDs first, as Helm orders them)."""
    documents = render(values, namespace=SYSTEM_NS)
    kubectl(sandbox, "create", "namespace", SYSTEM_NS)
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    # The Deployments' containers are run by the test as local processes (Pod below), each with its chart
    # ServiceAccount's token; applying them too would start a second operator and facade in the cluster.
    rest = [d for d in documents if d["kind"] not in ("CustomResourceDefinition", "Deployment")]
    kubectl(sandbox, "apply", "-f", "-", stdin=yaml.safe_dump_all(crds))
    kubectl(sandbox, "apply", "--namespace", SYSTEM_NS, "-f", "-", stdin=yaml.safe_dump_all(rest))
    return documents


class Pod:
    """A chart Deployment's container run as a local process: its ConfigMap and Secret volumes are read back from
    the cluster into a local root, and every path under a mount is mapped there."""

    def __init__(self, sandbox: RunningSandbox, deployment: Manifest, root: Path) -> None:
        self.spec = deployment["spec"]["template"]["spec"]
        self.container = self.spec["containers"][0]
        self.root = root
        self.mounts: dict[str, Path] = {}
        volumes = {v["name"]: v for v in self.spec["volumes"]}
        for mount in self.container["volumeMounts"]:
            self.mounts[mount["mountPath"]] = root / mount["mountPath"].lstrip("/")
            self.mounts[mount["mountPath"]].mkdir(parents=True, exist_ok=True)
        for mount in self.container["volumeMounts"]:
            local = self.mounts[mount["mountPath"]]
            source = volumes[mount["name"]]
            if "configMap" in source:
                config_map = yaml.safe_load(
                    kubectl(
                        sandbox,
                        "get",
                        "configmap",
                        source["configMap"]["name"],
                        "-n",
                        SYSTEM_NS,
                        "-o",
                        "yaml",
                    )
                )
                for key, text in config_map["data"].items():
                    (local / key).write_text(self.map_paths(text))
            elif "secret" in source:
                secret = yaml.safe_load(
                    kubectl(
                        sandbox,
                        "get",
                        "secret",
                        source["secret"]["secretName"],
                        "-n",
                        SYSTEM_NS,
                        "-o",
                        "yaml",
                    )
                )
                items = source["secret"].get("items") or [{"key": k, "path": k} for k in secret["data"]]
                for item in items:  # only the keys the volume names, as the kubelet mounts them
                    target = local / item["path"]
                    target.write_bytes(base64.b64decode(secret["data"][item["key"]]))
                    target.chmod(0o600)

    def map_paths(self, text: str) -> str:
        if not self.mounts:
            return text
        mounts = sorted(self.mounts, key=len, reverse=True)
        pattern = r"(?<![\w/.-])(" + "|".join(map(re.escape, mounts)) + r")(/[^\s\"',\]]*)"

        def local(match: re.Match[str]) -> str:
            # A path of this machine (the test's own interpreter, say) is left alone even when it starts like a
            # mount path: with the checkout under /tmp, /tmp/<checkout>/.venv/bin/python is not the pod's /tmp.
            if Path(match.group(0)).exists():
                return match.group(0)
            return str(self.mounts[match.group(1)]) + match.group(2)

        return re.sub(pattern, local, text)

    def command(self, **ports: int) -> list[str]:
        """The container's command with local paths, and free local ports for its ``--<flag>=`` port arguments
        (``metrics_port=`` replaces ``--metrics-port=``)."""
        flags = {f"--{name.replace('_', '-')}": port for name, port in ports.items()}
        command = [str(Path(sys.executable).with_name(self.container["command"][0]))]
        for arg in self.container["args"]:
            flag = arg.split("=", 1)[0]
            command.append(f"{flag}={flags[flag]}" if flag in flags else self.map_paths(arg))
        return command

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORONE_")}
        env.update({e["name"]: self.map_paths(e["value"]) for e in self.container["env"] if "value" in e})
        env.update(extra)
        return env


@contextmanager
def process(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_http(url: str, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer: {log_path.read_text()[-3000:]}")
