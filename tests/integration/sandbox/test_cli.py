"""``tensorone sandbox up`` serves a real control plane until ``tensorone sandbox down`` stops it and everything it
started; with ``--with-operator --with-facade`` the product runs with the chart's identities, as on a cluster."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from tensorone.sandbox.network import NETNS_DIR, PodNetwork
from tests.integration.sandbox.helpers import processes_with, running

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tensorone", "sandbox", *args]


@contextmanager
def sandbox_up(directory: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Run ``sandbox up`` until its ``ready`` line; always ``sandbox down`` afterwards."""
    process = subprocess.Popen(
        _cli("up", "--dir", str(directory), *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:1] == ["ready"], process.stderr.read() if process.stderr else ""
        yield process, ready
    finally:
        subprocess.run(_cli("down", "--dir", str(directory)), capture_output=True, timeout=60, check=False)
        process.kill()
        process.wait()


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _links() -> set[str]:
    listed = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in listed.splitlines()}


def _namespaces() -> set[str]:
    return set(os.listdir(NETNS_DIR)) if NETNS_DIR.exists() else set()


def test_up_serves_real_nodes_and_down_leaves_no_process_namespace_or_link(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    links, namespaces = _links(), _namespaces()
    pid_file = tmp_path / "started"
    marker = f"sleeper-{os.urandom(6).hex()}"  # found in this machine's /proc by its command line
    with sandbox_up(directory, "--gpus", "a100=2,h100=1") as (process, ready):
        url = ready[1]
        assert url.startswith("https://")
        kubeconfig = directory / "kubeconfig"
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json").stdout)["items"]
        assert sorted(n["metadata"]["labels"]["nvidia.com/gpu.product"] for n in nodes) == [
            "NVIDIA-A100-SXM4-80GB",
            "NVIDIA-H100-80GB-HBM3",
        ]
        ready_conditions = [next(c for c in n["status"]["conditions"] if c["type"] == "Ready") for n in nodes]
        assert {c["status"] for c in ready_conditions} == {"True"}
        assert sorted(n["status"]["capacity"]["nvidia.com/gpu"] for n in nodes) == ["1", "2"]
        script = f"import time; open({str(pid_file)!r}, 'w').write('{marker}'); time.sleep(60)"
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
                    "spec": {"containers": [{"name": "c", "image": "i", "command": ["python", "-c", script]}]}}  # fmt: skip
        applied = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
            input=yaml.safe_dump(manifest), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the pod's process did not start"
            time.sleep(0.1)
        pids = processes_with(marker)
        assert pids, "the pod's process is not on this machine"
        # Compared by this sandbox's own names: other sandboxes on this machine may come and go meanwhile.
        network = PodNetwork(int(str(urlsplit(url).hostname).split(".")[2]))  # its gateway: 10.234.<index>.1
        assert network.owns(network.bridge)
        assert {n for n in _namespaces() - namespaces if network.owns(n)}, "the pod got no network namespace"
        down = subprocess.run(
            _cli("down", "--dir", str(directory)), capture_output=True, text=True, timeout=60
        )
        assert down.stdout == f"sandbox in {directory} stopped\n"
        assert process.wait(timeout=30) == 0
    assert not [pid for pid in pids if running(pid)]
    assert not (directory / "sandbox.json").exists()
    assert not {n for n in _namespaces() - namespaces if network.owns(n)}
    assert not {n for n in _links() - links if network.owns(n)}
    leftovers = subprocess.run(["pgrep", "-f", str(directory)], capture_output=True, text=True, check=False)
    assert leftovers.stdout == ""


def test_product_runs_with_the_charts_identities_and_is_restarted_when_it_dies(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    with sandbox_up(directory, "--with-operator", "--with-facade") as (process, ready):
        kubeconfig = directory / "kubeconfig"
        api = dict(part.split("=", 1) for part in ready[2:])["api"]
        assert stat.S_IMODE((directory / "api-key").stat().st_mode) == 0o600
        # The CRDs the product generates are accepted and served by the real API server.
        for crd in ("trainingjobs.training.tensorone.ai", "datasets.training.tensorone.ai"):
            established = kubectl(
                kubeconfig,
                "get",
                "crd",
                crd,
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            )
            assert established.stdout == "True", established.stderr
        # The operator and facade hold their ServiceAccounts' tokens, not the admin's: another namespace's
        # Secrets are refused by RBAC.
        for component in ("operator", "facade"):
            denied = kubectl(
                directory / "component-tokens" / f"{component}.kubeconfig", "get", "secrets", "-n", "default"
            )
            assert denied.returncode != 0
            assert "Forbidden" in denied.stderr
            assert 'cannot list resource "secrets"' in denied.stderr
        key = (directory / "api-key").read_text().strip()
        assert (
            httpx.get(f"{api}/v2/training/jobs", headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )

        facade_pid = int(
            subprocess.run(
                ["pgrep", "-f", f"serve --kubeconfig {directory}"], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        os.kill(facade_pid, signal.SIGKILL)
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("sandbox: facade exited with -9; restarting it"), line
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{api}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the facade was not restarted"
            time.sleep(0.2)


def test_up_refuses_unknown_gpu_types(tmp_path: Path) -> None:
    result = subprocess.run(
        _cli("up", "--dir", str(tmp_path), "--gpus", "tpu=4"), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown GPU type 'tpu'" in result.stderr


def test_down_without_a_running_sandbox_says_so(tmp_path: Path) -> None:
    result = subprocess.run(_cli("down", "--dir", str(tmp_path)), capture_output=True, text=True, timeout=30)
    assert result.stdout == f"no sandbox is running in {tmp_path}\n"


def test_a_killed_sandbox_takes_the_processes_of_its_pods_with_it(tmp_path: Path) -> None:
    # A pod running as its securityContext's user: the kernel clears the parent-death signal when a process
    # changes its user, so this is the case that must be looked after.
    directory = tmp_path / "sb"
    with sandbox_up(directory) as (process, _):
        kubeconfig = directory / "kubeconfig"
        marker = f"sleeper-{os.urandom(6).hex()}"  # found in this machine's /proc by its command line
        script = f"print('{marker}', flush=True); import time; time.sleep(120)"
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
                    "spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
                             "containers": [{"name": "c", "image": "i", "command": ["python", "-c", script]}]}}  # fmt: skip
        applied = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
            input=yaml.safe_dump(manifest), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        deadline = time.monotonic() + 60
        while not kubectl(kubeconfig, "logs", "sleeper").stdout.strip():
            assert time.monotonic() < deadline, "the pod's process did not start"
            time.sleep(0.5)
        pids = processes_with(marker)
        assert pids, "the pod's process is not on this machine"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in pids):
            assert time.monotonic() < deadline, "the pod's process outlived its sandbox"
            time.sleep(0.1)
