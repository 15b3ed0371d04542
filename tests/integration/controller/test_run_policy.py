"""Run policy and budget against a real operator: the TTL cleans up a finished job, maxCost stops it with a
checkpoint, activeDeadlineSeconds fails it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tensorone.api import names
from tests.integration.controller.conftest import ROOT, Cluster, fake_code

NAMESPACE = "/api/v1/namespaces/default"


def test_finished_job_children_go_after_the_ttl_but_logs_and_checkpoints_stay(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job(
        "job-ttl", runPolicy={"ttlSecondsAfterFinished": 1}, config={"customCode": fake_code(seconds=1)}
    )
    cluster.wait_phase("job-ttl", "running")
    assert cluster.http.get(f"{NAMESPACE}/services/job-ttl-workers").status_code == 404  # one worker: none
    children = [
        f"{NAMESPACE}/configmaps/job-ttl-config",
    ]
    assert [cluster.http.get(path).status_code for path in children] == [200] * len(children)
    cluster.wait_phase("job-ttl", "completed")

    def removed() -> bool:
        return all(cluster.http.get(path).status_code == 404 for path in children)

    cluster.wait("children removed after the TTL", removed, timeout=15)
    assert cluster.job("job-ttl")["status"]["phase"] == "completed"
    logs = cluster.http.get(f"{NAMESPACE}/configmaps/{names.logs_config_map_name('job-ttl', 1)}").json()
    assert "fake trainer attempt=1" in logs["data"][names.worker_log_key(0)]
    assert cluster.http.get(f"{NAMESPACE}/persistentvolumeclaims/job-ttl-checkpoints").status_code == 200


def test_reaching_max_cost_stops_the_job_with_a_checkpoint(cluster: Cluster, tmp_path: Path) -> None:
    catalog = yaml.safe_load((ROOT / "operator/tensorone/catalog/defaults.yaml").read_text())
    catalog["gpus"]["a100"]["pricePerHour"] = 36000.0  # 10 per GPU-second: the budget is gone in 2 seconds
    pricing = tmp_path / "pricing.yaml"
    pricing.write_text(yaml.safe_dump(catalog))
    cluster.configure(pricingConfig=str(pricing))
    cluster.start_operator()
    cluster.create_job("job-budget", maxCost=20.0)
    job = cluster.wait_phase("job-budget", "stopped", timeout=30)
    status = job["status"]
    suspended = next(c for c in status["conditions"] if c["type"] == "Suspended")
    assert suspended["reason"] == "BudgetExceeded"
    assert status["resourceUsage"]["cost"] >= 20.0
    assert [c["id"] for c in status["checkpoints"]] != []
    # The stopped worker goes once the operator has archived its log (the finalizer held it until then).
    cluster.wait("the stopped worker gone", lambda: cluster.pods("job-budget") == [])


def test_a_job_running_past_its_active_deadline_fails(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-late", runPolicy={"activeDeadlineSeconds": 1})
    job = cluster.wait_phase("job-late", "failed")
    assert job["status"]["error"] == {
        "reason": "DeadlineExceeded",
        "message": "activeDeadlineSeconds 1 reached",
    }
    cluster.wait("the late worker removed", lambda: cluster.pods("job-late") == [])
