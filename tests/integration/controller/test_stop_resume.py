"""Stop (spec.suspend) checkpoints and stops; resume continues from a checkpoint; deletion stops workers."""

from __future__ import annotations

from tests.integration.controller.conftest import Cluster


def test_stop_checkpoints_then_resume_continues_from_it(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-sr")
    # A container counts as running before its process is up; the stop must reach a trainer that can checkpoint.
    cluster.wait("the trainer reports", lambda: (cluster.job("job-sr").get("status") or {}).get("progress"))
    cluster.patch_spec("job-sr", suspend=True)
    stopped = cluster.wait_phase("job-sr", "stopped")
    (checkpoint,) = stopped["status"]["checkpoints"]
    # The stopped worker goes once the operator has archived its log (the finalizer held it until then).
    cluster.wait("the stopped worker gone", lambda: cluster.pods("job-sr") == [])
    cluster.patch_spec("job-sr", suspend=False, resumeFrom=checkpoint["id"])
    resumed = cluster.wait_phase("job-sr", "running")
    assert (resumed["status"]["attempts"], resumed["status"]["resumedFrom"]) == (2, checkpoint["id"])
    (worker,) = cluster.pods("job-sr")
    assert worker["metadata"]["labels"]["training.tensorone.ai/attempt"] == "2"


def test_stop_without_checkpoint_cancels(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-c")
    cluster.wait_phase("job-c", "running")
    cluster.patch_spec("job-c", suspend=True, saveCheckpointOnStop=False)
    cluster.wait_phase("job-c", "cancelled")


def test_resume_from_an_unknown_checkpoint_creates_no_pods(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-u")
    cluster.wait_phase("job-u", "running")
    cluster.patch_spec("job-u", suspend=True)
    cluster.wait_phase("job-u", "stopped")
    cluster.patch_spec("job-u", suspend=False, resumeFrom="ckpt_nope")

    def refused() -> bool:
        conditions = cluster.job("job-u")["status"]["conditions"]
        return any(c["reason"] == "CheckpointNotFound" for c in conditions)

    cluster.wait("CheckpointNotFound", refused)
    assert cluster.pods("job-u") == []


def test_deleting_a_running_job_stops_its_workers_and_removes_it(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-del")
    cluster.wait_phase("job-del", "running")
    assert (
        cluster.http.delete(
            "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs/job-del"
        ).status_code
        < 300
    )
    cluster.wait(
        "job gone",
        lambda: (
            cluster.http.get(
                "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs/job-del"
            ).status_code
            == 404
        ),
    )
    cluster.wait("workers gone", lambda: cluster.pods("job-del") == [])


def test_a_silent_trainer_is_marked_stalled(cluster: Cluster) -> None:
    from tests.integration.controller.conftest import fake_code

    cluster.start_operator()
    cluster.create_job("job-quiet", config={"customCode": fake_code(report="no")})
    cluster.wait_phase("job-quiet", "running")

    def stalled() -> bool:
        conditions = cluster.job("job-quiet")["status"]["conditions"]
        return any(c["type"] == "Stalled" and c["status"] == "True" for c in conditions)

    cluster.wait("Stalled=True", stalled, timeout=15)
