"""Walking every page, waiting with progress, and the async client — against the facade in front of the sandbox.

The job's status is written into the TrainingJob's status subresource, as the operator would (no operator
runs here), so the tests decide exactly which states the client sees.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from tensorone import AsyncTensorOneClient, TensorOneClient
from tensorone.facade.testing import RunningFacade
from tensorone.sdk import errors
from tensorone.sdk.models import TrainingJob
from tests.integration.facade.harness import CHECKPOINTS, Account, Cluster, new_account

STAGES: list[dict[str, Any]] = [
    {"phase": "running", "progress": {"percentage": 25.0}, "metrics": {"currentLoss": 2.0}},
    {"phase": "running", "progress": {"percentage": 60.0}, "metrics": {"currentLoss": 1.5}},
    {"phase": "completed", "progress": {"percentage": 100.0}, "metrics": {"currentLoss": 1.2}},
]
SEEN_STAGES = [("running", 25.0, 2.0), ("running", 60.0, 1.5), ("completed", 100.0, 1.2)]


def _seen(job: TrainingJob) -> tuple[str, float, float | None]:
    return (job.status, job.progress.percentage, job.metrics.current_loss)


def _play_stages(cluster: Cluster, namespace: str, job_id: str, hold: float) -> threading.Thread:
    """Write STAGES one after another, each held ``hold`` seconds (many polls), in the background."""

    def play() -> None:
        for stage in STAGES:
            time.sleep(hold)
            cluster.set_status(namespace, job_id, stage)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_list_all_yields_every_job_once_across_pages(env: Account, cluster: Cluster) -> None:
    dataset = env.dataset()
    created = [env.job(dataset) for _ in range(7)]
    client = TensorOneClient()
    assert sorted(job.id for job in client.training.jobs.list_all(page_size=3)) == sorted(created)

    running = created[1:3]
    for job_id in running:
        cluster.set_status(env.namespace, job_id, {"phase": "running"})
    listed = list(client.training.jobs.list_all(status="running", page_size=1))
    assert sorted(job.id for job in listed) == sorted(running)
    assert {job.status for job in listed} == {"running"}


def test_datasets_list_all_yields_every_dataset(env: Account) -> None:
    created = [env.dataset(f"set-{i}") for i in range(3)]
    client = TensorOneClient()
    assert sorted(d.id for d in client.datasets.list_all(page_size=2)) == sorted(created)


def test_wait_reports_each_change_once_and_returns_the_final_job(env: Account, cluster: Cluster) -> None:
    job_id = env.job()
    client = TensorOneClient()
    seen: list[tuple[str, float, float | None]] = []
    player = _play_stages(cluster, env.namespace, job_id, hold=1.0)
    final = client.training.jobs.wait(
        job_id, on_progress=lambda job: seen.append(_seen(job)), poll_interval=0.05, timeout=60
    )
    player.join()
    assert _seen(final) == ("completed", 100.0, 1.2)
    assert final.finished
    # The first poll shows the job before any stage; then every stage exactly once although each was polled
    # many times.
    assert seen[1:] == SEEN_STAGES
    assert seen[0][0] not in {"running", "completed"}


def test_wait_gives_up_after_its_timeout(env: Account) -> None:
    job_id = env.job()
    client = TensorOneClient()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=job_id):
        client.training.jobs.wait(job_id, poll_interval=0.05, timeout=0.5)
    assert time.monotonic() - started < 10
    assert client.training.jobs.get(job_id).status not in {"completed", "failed", "stopped", "cancelled"}


async def test_the_async_client_does_what_the_sync_one_does(env: Account, cluster: Cluster) -> None:
    async with AsyncTensorOneClient() as client:
        dataset = await client.datasets.create("corpus", "jsonl", "/datasets/corpus.jsonl")
        job = await client.training.jobs.create(
            name="async-job", model_type="llm", dataset_id=dataset.id, config={"baseModel": "gpt2"},
            gpu_type="a100", max_workers=2,
        )  # fmt: skip
        assert isinstance(job, TrainingJob)
        assert (await client.training.jobs.get(job.id)).name == "async-job"
        await asyncio.to_thread(
            cluster.set_status, env.namespace, job.id, {"phase": "running", "checkpoints": CHECKPOINTS}
        )
        assert [j.id async for j in client.training.jobs.list_all(status="running", page_size=1)] == [job.id]
        assert [c.id for c in await client.training.jobs.checkpoints(job.id)] == [
            "ckpt_epoch_1",
            "ckpt_epoch_2",
        ]
        stopped = await client.training.jobs.stop(job.id, save_checkpoint=True, reason="lunch")
        assert stopped.status == "stopping"
        assert [d.id async for d in client.datasets.list_all()] == [dataset.id]
        await client.training.jobs.delete(job.id)
        with pytest.raises(errors.JobNotFoundError) as caught:
            await client.training.jobs.get(job.id)
        assert (caught.value.details, caught.value.status_code) == ({"jobId": job.id}, 404)


async def test_async_wait_awaits_a_coroutine_progress_callback(env: Account, cluster: Cluster) -> None:
    job_id = env.job()
    seen: list[tuple[str, float, float | None]] = []

    async def on_progress(job: TrainingJob) -> None:
        await asyncio.sleep(0)
        seen.append(_seen(job))

    player = _play_stages(cluster, env.namespace, job_id, hold=1.0)
    async with AsyncTensorOneClient() as client:
        final = await client.training.jobs.wait(
            job_id, on_progress=on_progress, poll_interval=0.05, timeout=60
        )
    await asyncio.to_thread(player.join)
    assert _seen(final) == ("completed", 100.0, 1.2)
    assert seen[1:] == SEEN_STAGES


async def test_async_errors_are_typed(env: Account) -> None:
    async with AsyncTensorOneClient() as client:
        with pytest.raises(errors.ConfigurationError) as caught:
            await client.training.jobs.create(
                name="x", model_type="llm", dataset_id=env.dataset(),
                config={"baseModel": "gpt2", "training": {"learning_rate": 2}},
            )  # fmt: skip
        assert caught.value.field == "config.training.learning_rate"
        with pytest.raises(errors.InvalidStateError):
            await client.training.jobs.resume(env.job())  # still queued: nothing to resume
        assert (await client.training.jobs.list()).pagination.total == 1  # the refused create made nothing


def test_async_rate_limited_calls_are_retried(cluster_sandbox) -> None:  # type: ignore[no-untyped-def]
    from tensorone.facade.testing import running_facade

    async def list_four_times(key: str, url: str) -> list[int]:
        async with AsyncTensorOneClient(api_key=key, base_url=url, max_retries=3) as client:
            return [(await client.training.jobs.list()).pagination.total for _ in range(4)]

    # running_facade runs its own event loop, so this test drives the async client with asyncio.run.
    with running_facade(
        str(cluster_sandbox.kubeconfig_path), rate_limit_per_second=2, rate_limit_burst=2
    ) as strict:
        account = new_account(strict, "retry-async")
        assert asyncio.run(list_four_times(account.key, strict.url)) == [0, 0, 0, 0]


def test_a_bad_key_raises_unauthorized_in_the_async_client(facade: RunningFacade) -> None:
    async def call() -> None:
        async with AsyncTensorOneClient(api_key="t1_wrong", base_url=facade.url) as client:
            await client.training.jobs.list()

    with pytest.raises(errors.UnauthorizedError):
        asyncio.run(call())
