"""``tensorone sandbox up`` serves until ``tensorone sandbox down`` stops it and everything it started."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.sandbox.helpers import Api, pod


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tensorone", "sandbox", *args]


def test_up_prints_ready_and_down_stops_it_with_its_pod_processes(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    process = subprocess.Popen(
        _cli("up", "--dir", str(directory), "--gpus", "a100=2,h100=1"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("ready http://127.0.0.1:")
        url = ready.split()[1]
        assert (directory / "kubeconfig").read_text().count(url) == 1
        nodes = httpx.get(f"{url}/api/v1/nodes").json()["items"]
        assert sorted(n["metadata"]["labels"]["nvidia.com/gpu.product"] for n in nodes) == [
            "NVIDIA-A100-SXM4-80GB",
            "NVIDIA-H100-80GB-HBM3",
        ]
        pid_file = tmp_path / "pid"
        api = Api(url)
        script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        api.post("/api/v1/namespaces/default/pods", pod("sleeper", ["python", "-c", script]))
        deadline = time.monotonic() + 15
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        down = subprocess.run(
            _cli("down", "--dir", str(directory)), capture_output=True, text=True, timeout=30
        )
        assert down.stdout == f"sandbox in {directory} stopped\n"
        assert process.wait(timeout=10) == 0
        status = Path(f"/proc/{pid_file.read_text()}/status")
        assert not status.exists() or "zombie" in status.read_text().lower()
        assert not (directory / "sandbox.json").exists()
    finally:
        process.kill()
        process.wait()


def test_up_refuses_unknown_gpu_types(tmp_path: Path) -> None:
    result = subprocess.run(
        _cli("up", "--dir", str(tmp_path), "--gpus", "tpu=4"), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown GPU type 'tpu'" in result.stderr


def test_down_without_a_running_sandbox_says_so(tmp_path: Path) -> None:
    result = subprocess.run(_cli("down", "--dir", str(tmp_path)), capture_output=True, text=True, timeout=30)
    assert result.stdout == f"no sandbox is running in {tmp_path}\n"
