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
    # Events are posted after the status patch that records the transition.
    cluster.wait("the Completed event", lambda: len(cluster.events("job-ok")) >= 3, timeout=10)
    events = sorted(
        cluster.events("job-ok"), key=lambda e: (e["firstTimestamp"], int(e["metadata"]["resourceVersion"]))
    )
    assert [e["reason"] for e in events] == ["Pending", "Running", "Completed"]
    # One event per transition: admission's also tells the worker pods it brought.
    assert "created 1 worker pod(s) for attempt 1" in events[0]["message"]
