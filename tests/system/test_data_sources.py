"""Datasets and base models from where users keep them: an ``s3://`` dataset (a moto S3 server) and a hub model id
(a pre-filled hub cache on the data volume, ``HF_HUB_OFFLINE=1``), fetched by the job's initializer before any
worker starts, cached for the next job, and a missing object failing clearly — all through the REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.sources import HUB_CACHE_DIR, human_bytes
from tensorone.controller.settings import OperatorSettings
from tests.helpers.hub_cache import model_files, prefill_hub_cache
from tests.helpers.object_store import SECRET_KEY, ObjectStore, running_object_store

from .conftest import NAMESPACE, Platform, learnable_records, lora_config

MODEL_ID = "tensorone-tests/tiny-llama"


@pytest.fixture
def store(platform: Platform, tmp_path: Path) -> Iterator[ObjectStore]:
    """moto on the pod network's gateway (pods cannot reach the test's 127.0.0.1), with the account's source
    credentials Secret pointing at it."""
    gateway = str(urlsplit(platform.sandbox.url).hostname)
    with running_object_store(tmp_path, host=gateway) as running:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": OperatorSettings().source_credentials_secret, "namespace": NAMESPACE},
            "data": {
                **running.secret_data(),
                "HF_HUB_OFFLINE": "MQ==",  # "1": the hub's stand-in is the pre-filled cache; nothing goes out
            },
        }
        platform.kube.post(f"/api/v1/namespaces/{NAMESPACE}/secrets", json=secret).raise_for_status()
        yield running


def put_hub_model(platform: Platform, tiny_model: Path) -> None:
    cache = platform.dataset_volume / Path(HUB_CACHE_DIR).relative_to(DATA_VOLUME_MOUNT_PATH)
    prefill_hub_cache(cache, MODEL_ID, model_files(tiny_model))


def conditions(platform: Platform, job_id: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in platform.job_resource(job_id)["status"]["conditions"]}


def events(platform: Platform, job_id: str) -> list[str]:
    name = job_id.replace("_", "-")
    response = platform.kube.get(
        f"/api/v1/namespaces/{NAMESPACE}/events", params={"fieldSelector": f"involvedObject.name={name}"}
    )
    response.raise_for_status()
    return [f"{e['reason']}: {e['message']}" for e in response.json()["items"]]


def test_s3_data_and_a_hub_model_are_fetched_once_and_the_next_job_uses_the_cache(
    platform: Platform, store: ObjectStore, tiny_model: Path
) -> None:
    records = "".join(json.dumps({"text": r}) + "\n" for r in learnable_records(16)).encode()
    store.put("corpus", "text/train.jsonl", records)
    put_hub_model(platform, tiny_model)
    client = platform.client
    dataset = client.datasets.create(name="zen-s3", format="jsonl", source="s3://corpus/text/train.jsonl")

    finished = []
    for run in range(2):
        job = client.training.jobs.create(
            name=f"zen-s3-{run}", model_type="llm", dataset_id=dataset.id, gpu_type="a100", max_workers=1,
            config=lora_config(MODEL_ID, epochs=1),
        )  # fmt: skip
        assert job.status == "pending"
        final = platform.wait_finished(job.id, timeout=300)
        assert final.status == "completed", final.error
        finished.append(job.id)
        initializing = conditions(platform, job.id)["Initializing"]
        assert initializing["status"] == "False"
        assert initializing["reason"] == "Initialized"
        if run == 0:
            assert "dataset s3://corpus/text/train.jsonl: 1 files" in initializing["message"]
            assert f"(fetched {human_bytes(len(records))})" in initializing["message"]
        else:
            assert "dataset s3://corpus/text/train.jsonl: 1 files, " in initializing["message"]
            assert "(from the cache)" in initializing["message"].split(";")[0]
        assert f"model {MODEL_ID}:" in initializing["message"]
        assert any(e.startswith("Initialized: dataset s3://corpus/") for e in events(platform, job.id))

    assert store.gets_of("corpus", "text/train.jsonl") == 1  # the second job did not download it again
    registered = client.datasets.get(dataset.id)  # size and example count recorded once fetched
    assert (registered.num_examples, registered.size_bytes) == (16, len(records))
    for job_id in finished:
        assert SECRET_KEY not in json.dumps(platform.job_resource(job_id))
        assert all(SECRET_KEY not in e for e in events(platform, job_id))


def test_a_missing_object_fails_the_job_at_the_initializer_naming_the_url(
    platform: Platform, store: ObjectStore
) -> None:
    store.put("corpus", "text/train.jsonl", b'{"text": "x"}\n')
    client = platform.client
    dataset = client.datasets.create(name="gone", format="jsonl", source="s3://corpus/text/missing.jsonl")
    job = client.training.jobs.create(
        name="gone", model_type="llm", dataset_id=dataset.id, gpu_type="a100", max_workers=1,
        config=lora_config("/datasets/models/not-needed"),
    )  # fmt: skip
    final = platform.wait_finished(job.id, timeout=120)
    assert final.status == "failed"
    assert final.error is not None
    assert final.error.message.startswith("Dataset source s3://corpus/text/missing.jsonl: not found")
    assert "Traceback" not in final.error.message
    assert SECRET_KEY not in final.error.message
    status = platform.job_resource(job.id)["status"]
    assert not status.get("attempts")  # no worker attempt was ever started
    assert not [p for p in platform.pods(job.id) if "-worker-" in p["metadata"]["name"]]
    assert not [e for e in events(platform, job.id) if e.startswith("WorkersCreated")]
    assert conditions(platform, job.id)["Initializing"]["reason"] == "InitializationFailed"
    # Not retried: one look at the object and one listing of the prefix.
    assert len([r for r in store.requests() if "missing.jsonl" in r or "prefix=text%2Fmissing" in r]) <= 2
