"""Deleting a job keeps its checkpoints unless the deletion asks to purge them (``?purgeCheckpoints=true``)."""

from __future__ import annotations

import pytest

from tensorone.api import names

from .conftest import NAMESPACE, Platform, until

CHECKPOINTING = """
def train(context):
    context.report(step=1, loss=1.0)
    context.save_checkpoint({"step": 1}, step=1)
"""


@pytest.mark.parametrize("purge", [False, True], ids=["kept", "purged"])
def test_a_deleted_job_keeps_its_checkpoints_unless_purged(platform: Platform, purge: bool) -> None:
    client = platform.client
    dataset = client.datasets.create(name="x", format="jsonl", source="/datasets/x.jsonl")
    job = client.training.jobs.create(
        name="keeper", model_type="custom", dataset_id=dataset.id, gpu_type="a100",
        config={"customCode": CHECKPOINTING, "training": {"epochs": 1}},
    )  # fmt: skip
    done = platform.wait_finished(job.id)
    assert done.status == "completed"
    assert [c.id for c in done.checkpoints] == ["ckpt_step_1"]
    name = job.id.replace("_", "-")
    claim = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{names.checkpoint_claim_name(name)}"
    assert platform.kube.get(claim).status_code == 200

    client.training.jobs.delete(job.id, purge_checkpoints=purge)
    until("the job gone", lambda: platform.kube.get(
        f"/apis/training.tensorone.ai/v1/namespaces/{NAMESPACE}/trainingjobs/{name}"
    ).status_code == 404)  # fmt: skip
    if purge:
        until("the checkpoint claim gone", lambda: platform.kube.get(claim).status_code == 404, timeout=30)
    else:
        # Garbage collection has had its chance: the job's owned children (its config) are gone, the claim stays.
        config = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{names.config_map_name(name)}"
        until("the job's config collected", lambda: platform.kube.get(config).status_code == 404, timeout=30)
        assert platform.kube.get(claim).status_code == 200
