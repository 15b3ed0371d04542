"""Sandbox start-up to ``ready``, beside the bare API server (etcd + kube-apiserver to ``/readyz``), same run.

The sandbox is the real control plane plus our kubelet: ``ready`` means etcd, kube-apiserver, the controller
manager and the scheduler serve, the nodes are registered and untainted and pods can be created. The baseline is
the part no sandbox can skip: the same etcd and kube-apiserver, with the same certificates and flags, until the
API server answers ``/readyz``. Both are fresh processes each run (interpreter and imports included); the
median of a few runs is printed with the ratio sandbox / baseline. The target is under 10 s with cached
binaries.

    python -m benchmarks.sandbox_startup [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import Result

REPO = Path(__file__).resolve().parents[1]

BASELINE = """
import asyncio, sys
from pathlib import Path
from tensorone.sandbox.controlplane import ControlPlane
from tensorone.sandbox.network import PodNetwork

async def main():
    network = PodNetwork.allocate()
    control = ControlPlane(Path(sys.argv[1]), network.gateway)
    try:
        await control.start(with_controllers=False)
        print("ready", flush=True)
        await asyncio.Event().wait()
    finally:
        control.stop()
        network.close()
asyncio.run(main())
"""


def time_to_ready(argv: list[str]) -> float:
    """Seconds from process start to its first line starting with ``ready``; then stop it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready"):
                return time.perf_counter() - started
        raise RuntimeError(f"{argv} exited without printing ready (rc={process.wait()})")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(runs: int) -> tuple[float, float]:
    """Median seconds to ready of the sandbox and of the bare emulator, alternating, ``runs`` each."""
    sandbox_times = []
    baseline_times = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            baseline_times.append(time_to_ready([sys.executable, "-c", BASELINE, f"{tmp}/base-{index}"]))
            sandbox_times.append(
                time_to_ready(
                    [
                        sys.executable,
                        "-m",
                        "tensorone",
                        "sandbox",
                        "up",
                        "--dir",
                        f"{tmp}/run-{index}",
                        "--gpus",
                        "a100=8,h100=8",
                    ]
                )
            )
    return statistics.median(sandbox_times), statistics.median(baseline_times)


def run(quick: bool) -> list[Result]:
    """The figure for ``python -m benchmarks`` (2 runs each when ``quick``, else 5)."""
    runs = 2 if quick else 5
    sandbox, baseline = measure(runs)
    return [
        Result("sandbox_startup", f"start-up to ready, median of {runs}", sandbox, "s",
               "etcd + kube-apiserver alone to /readyz", baseline, "< 10 s")
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    sandbox, baseline = measure(runs)
    sys.stdout.write(
        f"sandbox start-up to ready: median {sandbox:.3f} s over {runs} runs (target < 10 s)\n"
        f"baseline etcd + kube-apiserver alone to /readyz: median {baseline:.3f} s\n"
        f"ratio sandbox / baseline: {sandbox / baseline:.2f}x\n"
    )


if __name__ == "__main__":
    main()
