"""Operators killed at any moment, or two at once, duplicate no pod and count no GPU-second twice."""

from __future__ import annotations

import time

from tests.integration.controller.conftest import Cluster


def test_operator_killed_while_creating_workers_leaves_one_pod_per_worker(cluster: Cluster) -> None:
    first = cluster.start_operator()
    cluster.create_job("job-r", maxWorkers=3)
    cluster.wait("first pod", lambda: cluster.pods("job-r"), timeout=20)
    cluster.kill_operators()
    assert first.poll() is not None
    cluster.start_operator()
    job = cluster.wait_phase("job-r", "running")
    names = sorted(p["metadata"]["name"] for p in cluster.pods("job-r"))
    assert names == ["job-r-worker-0", "job-r-worker-1", "job-r-worker-2"]
    assert job["status"]["attempts"] == 1


def test_usage_is_not_double_counted_across_operator_restarts(cluster: Cluster) -> None:
    cluster.start_operator()
    began = time.monotonic()
    cluster.create_job("job-u", gpusPerWorker=2)
    cluster.wait_phase("job-u", "running")
    time.sleep(1.5)
    cluster.kill_operators()
    time.sleep(1.0)
    cluster.start_operator()
    time.sleep(1.5)
    cluster.patch_spec("job-u", suspend=True)
    job = cluster.wait_phase("job-u", "stopped")
    wall = time.monotonic() - began
    usage = job["status"]["resourceUsage"]["gpuSeconds"]
    # The worker ran through the operator's downtime (4 s at least, with 2 GPUs), and double counting any
    # interval would push usage beyond wall time × GPUs.
    assert 2 * 3.5 <= usage <= 2 * wall


def test_two_operators_racing_create_each_worker_once(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.start_operator()
    for i in range(4):
        cluster.create_job(f"job-race-{i}", maxWorkers=2)
    for i in range(4):
        job = cluster.wait_phase(f"job-race-{i}", "running")
        assert job["status"]["attempts"] == 1
        assert len(cluster.pods(f"job-race-{i}")) == 2
