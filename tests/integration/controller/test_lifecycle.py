"""A job's life as a user sees it through the API: admitted, workers run, completed/failed/stopped/resumed."""

from __future__ import annotations

from tests.integration.controller.conftest import Cluster, fake_code


def test_a_job_runs_its_worker_and_completes(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-ok", config={"customCode": fake_code(seconds=1.5)})
    running = cluster.wait_phase("job-ok", "running")
    assert running["status"]["estimatedCost"]["hourly"] == 2.5
    done = cluster.wait_phase("job-ok", "completed")
    conditions = {c["type"]: c["status"] for c in done["status"]["conditions"]}
    assert conditions["Admitted"] == "True"
    assert conditions["Succeeded"] == "True"
    assert done["status"]["resourceUsage"]["gpuSeconds"] > 0
    reasons = [e["reason"] for e in cluster.events("job-ok")]
    assert {"Pending", "WorkersCreated", "Running", "Completed"} <= set(reasons)
