"""Another tenant's bytes never reach a user: not through a link planted on the account's data volume, and not
through an error about the account's own malformed file. The whole chain runs: REST → operator → trainer in a
worker → termination message → status → REST, plus the worker's logs, the job's events and the operator's log."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import NAMESPACE, Platform, lora_config, put_language_assets

SECRET = f"SECRET-{uuid.uuid4().hex}"


def _plant_link_to_another_tenant(platform: Platform) -> str:
    other = platform.sandbox.dir / "volumes" / "tensorone-other" / "datasets"
    other.mkdir(parents=True)
    (other / "private.csv").write_text(f"{SECRET}\nvalue\n", encoding="utf-8")
    (platform.dataset_volume / "links").mkdir(parents=True)
    (platform.dataset_volume / "links" / "private.csv").symlink_to(other / "private.csv")
    return "/datasets/links/private.csv"


def _own_file_with_a_secret_header(platform: Platform) -> str:
    (platform.dataset_volume / "own").mkdir(parents=True)
    (platform.dataset_volume / "own" / "notes.csv").write_text(f"{SECRET}\nvalue\n", encoding="utf-8")
    return "/datasets/own/notes.csv"


Plant = Callable[[Platform], str]


@pytest.mark.parametrize(
    ("plant", "says"),
    [(_plant_link_to_another_tenant, "dataset source"), (_own_file_with_a_secret_header, "notes.csv:2")],
    ids=["link-to-another-tenant", "own-csv-whose-first-line-is-a-secret"],
)
def test_a_secret_in_a_dataset_file_reaches_no_response_log_or_message(
    platform: Platform, tiny_model: Path, plant: Plant, says: str
) -> None:
    model, _ = put_language_assets(platform, tiny_model, ["a b c"] * 4)
    source = plant(platform)
    client = platform.client
    dataset = client.datasets.create(name="notes", format="csv", source=source)
    job = client.training.jobs.create(
        name="leak", model_type="llm", dataset_id=dataset.id, gpu_type="a100", config=lora_config(model)
    )
    final = platform.wait_finished(job.id, timeout=180)
    assert final.status == "failed"
    assert final.error is not None
    assert says in final.error.message
    assert platform.job_resource(job.id)["status"].get("attempts", 0) <= 1, "not retried"
    seen = [
        client.training.jobs.get(job.id).model_dump_json(),
        *(event.model_dump_json() for event in client.training.jobs.events(job.id)),
        client.training.jobs.logs(job.id),
        platform.kube.get(f"/apis/training.tensorone.ai/v1/namespaces/{NAMESPACE}/trainingjobs").text,
        platform.kube.get(f"/api/v1/namespaces/{NAMESPACE}/events").text,
        *(p.read_text(errors="replace") for p in platform.sandbox.dir.glob("operator-*.log")),
    ]
    for text in seen:
        assert SECRET not in text
