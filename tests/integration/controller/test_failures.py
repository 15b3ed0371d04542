"""Worker failures: the trainer's own non-retryable exit fails the job; a killed worker is retried from the
latest checkpoint; the retry limit holds."""

from __future__ import annotations

from tensorone.api import names
from tests.integration.controller.conftest import PODS, Cluster, fake_code


def test_trainer_configuration_error_fails_the_job_with_its_message(cluster: Cluster) -> None:
    cluster.start_operator()
    code = fake_code(seconds=0.5, exit=78, message="config.training.epochs: must be >= 1")
    cluster.create_job("job-bad", config={"customCode": code})
    job = cluster.wait_phase("job-bad", "failed")
    assert job["status"]["error"] == {
        "reason": "ConfigurationError",
        "message": "config.training.epochs: must be >= 1",
    }
    assert job["status"]["attempts"] == 1
    cluster.wait("the failed worker removed", lambda: cluster.pods("job-bad") == [])
    logs = cluster.http.get(
        f"/api/v1/namespaces/default/configmaps/{names.logs_config_map_name('job-bad', 1)}"
    )
    assert "fake trainer attempt=1" in logs.json()["data"][names.worker_log_key(0)]


def test_a_worker_killed_with_sigkill_is_replaced_by_an_attempt_that_resumes(cluster: Cluster) -> None:
    cluster.start_operator()
    code = fake_code(crash_attempt=1, checkpoint_before_crash="yes", seconds=2)
    cluster.create_job("job-crash", maxWorkers=2, config={"customCode": code})
    job = cluster.wait_phase("job-crash", "completed", timeout=45)
    assert job["status"]["attempts"] == 2
    assert job["status"]["resumedFrom"].startswith("ckpt_step_")
    retry = [e for e in cluster.events("job-crash") if e["reason"] == "Retrying"]
    assert len(retry) == 1
    # The status is written first, then the attempt's logs are archived, each worker's as it is released (worker
    # 1's may be in the archive a pass before worker 0's).
    worker_0_log = cluster.wait(
        "attempt 2's worker 0 log archived",
        lambda: (
            cluster.http.get(
                f"/api/v1/namespaces/default/configmaps/{names.logs_config_map_name('job-crash', 2)}"
            )
            .json()
            .get("data")
            or {}
        ).get(names.worker_log_key(0)),
    )
    # The retry resumes from the newest intact checkpoint on the volume (what the status names, or newer).
    assert "resume=latest" in worker_0_log


def test_retries_stop_at_the_backoff_limit(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job(
        "job-flaky", runPolicy={"backoffLimit": 1}, config={"customCode": fake_code(seconds=0.3, exit=137)}
    )
    job = cluster.wait_phase("job-flaky", "failed", timeout=45)
    assert job["status"]["error"]["reason"] == "BackoffLimitExceeded"
    assert job["status"]["attempts"] == 2


def test_a_worker_pod_deleted_under_a_running_job_is_noticed_at_once_not_at_the_resync(
    cluster: Cluster,
) -> None:
    cluster.configure(resyncSeconds=300)
    cluster.start_operator()
    cluster.create_job("job-evicted", config={"customCode": fake_code(seconds=60)})
    cluster.wait_phase("job-evicted", "running")
    response = cluster.http.request("DELETE", f"{PODS}/job-evicted-worker-0", json={"gracePeriodSeconds": 0})
    # 202: the pod stays (the operator's archive-logs finalizer) until its log is kept.
    assert response.status_code in (200, 202), response.text
    job = cluster.wait(
        "a new attempt after the pod was deleted",
        lambda: (j := cluster.job("job-evicted"))["status"].get("attempts", 0) >= 2 and j,
        timeout=20,
    )
    assert job["status"]["phase"] in ("pending", "running")
