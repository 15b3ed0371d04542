"""What users type with the SDK (API.md's example), against the facade."""

from __future__ import annotations

import pytest

from tensorone import TensorOneClient
from tensorone.facade.testing import RunningFacade
from tensorone.sdk import errors
from tests.integration.facade.harness import CHECKPOINTS, Account, Cluster, shape_b


def test_the_documented_sdk_session(env: Account, cluster: Cluster) -> None:
    client = TensorOneClient()  # key and URL from the environment
    dataset = client.datasets.create("corpus", "jsonl", "/datasets/corpus.jsonl")
    job = client.training.jobs.create(
        name="sdk-job", model_type="llm", dataset_id=dataset.id, config={"baseModel": "gpt2"},
        gpu_type="a100", max_workers=2,
    )  # fmt: skip
    assert job.status == "pending"
    cluster.set_status(
        env.namespace, job.id,
        {"phase": "running", "progress": {"percentage": 40.0, "currentEpoch": 1, "totalEpochs": 3},
         "metrics": {"currentLoss": 0.75}, "checkpoints": CHECKPOINTS},
    )  # fmt: skip
    job = client.training.jobs.get(job.id)
    assert (job.status, job.progress.percentage, job.metrics.current_loss) == ("running", 40.0, 0.75)
    assert [j.id for j in client.training.jobs.list(status="running", limit=10)] == [job.id]
    assert client.training.jobs.stop(job.id, save_checkpoint=True, reason="lunch").status == "stopping"
    cluster.set_status(env.namespace, job.id, {"phase": "stopped"})
    resumed = client.training.jobs.resume(job.id, checkpoint_id="ckpt_epoch_1")
    assert resumed.status == "pending"
    assert [c.id for c in client.training.jobs.checkpoints(job.id)] == ["ckpt_epoch_1", "ckpt_epoch_2"]
    cluster.set_status(env.namespace, job.id, {"phase": "completed"})
    assert client.training.jobs.wait(job.id, timeout=5, poll_interval=0.1).status == "completed"
    client.training.jobs.delete(job.id)
    with pytest.raises(errors.JobNotFoundError) as caught:
        client.training.jobs.get(job.id)
    assert (caught.value.error, caught.value.details, caught.value.status_code) == (
        "JOB_NOT_FOUND", {"jobId": job.id}, 404,
    )  # fmt: skip


def test_compact_create_returns_the_created_job(env: Account) -> None:
    client = TensorOneClient()
    created = client.training.jobs.create(body=shape_b(env.dataset()))
    assert created.id.startswith("job_")
    assert created.estimated_cost.total_cost >= 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "exception", "field"),
    [
        (lambda c: c.training.jobs.create(name="x", model_type="llm", dataset_id="ds_0123456789abcdef",
                                          config={"baseModel": "gpt2", "training": {"learning_rate": 2}}),
         errors.ConfigurationError, "config.training.learning_rate"),
        (lambda c: c.training.jobs.create(name="x", model_type="llm", dataset_id="ds_0123456789abcdef",
                                          config={"baseModel": "gpt2"}), errors.DatasetNotFoundError, None),
        (lambda c: c.training.jobs.resume("job_0123456789abcdef"), errors.JobNotFoundError, None),
        (lambda c: c.datasets.get("ds_0123456789abcdef"), errors.DatasetNotFoundError, None),
    ],
    ids=["configuration", "dataset", "job", "dataset-get"],
)  # fmt: skip
def test_api_errors_raise_typed_exceptions(env: Account, call, exception, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception) as caught:
        call(TensorOneClient())
    assert caught.value.details.get("field") == field


def test_a_bad_key_raises_unauthorized(facade: RunningFacade) -> None:
    with pytest.raises(errors.UnauthorizedError):
        TensorOneClient(api_key="t1_wrong", base_url=facade.url).training.jobs.list()


def test_rate_limited_calls_are_retried_after_the_server_says(cluster_sandbox) -> None:  # type: ignore[no-untyped-def]
    from tensorone.facade.testing import running_facade
    from tests.integration.facade.harness import new_account

    with running_facade(
        str(cluster_sandbox.kubeconfig_path), rate_limit_per_second=2, rate_limit_burst=2
    ) as strict:
        account = new_account(strict, "retry")
        client = TensorOneClient(api_key=account.key, base_url=strict.url, max_retries=3)
        totals = [client.training.jobs.list().pagination.total for _ in range(4)]
        assert totals == [0, 0, 0, 0]
