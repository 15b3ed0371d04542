"""A failed job says why, in the trainer's words, wherever a person looks: the REST job's ``error``, the job's
events, and the Failed condition ``kubectl describe`` shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import NAMESPACE, Platform, learnable_records, lora_config, put_language_assets, until

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
PRIVATE = "s3cr3t-payload"


def _describe(platform: Platform, job_id: str) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(platform.sandbox.kubeconfig_path), "-n", NAMESPACE,
         "describe", "trainingjob", job_id.replace("_", "-")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _failed_everywhere(platform: Platform, job_id: str, timeout: float = 240) -> tuple[str, str]:
    """(reason, message) of the failed job, checked to be the same in REST, the events and kubectl describe."""
    final = platform.wait_finished(job_id, timeout=timeout)
    assert final.status == "failed", final
    assert final.error is not None
    reason, message = final.error.reason, final.error.message
    # The operator writes the status first, then posts the event.
    until(
        "a Warning event with the cause",
        lambda: any(
            e.type == "Warning" and message in e.message for e in platform.client.training.jobs.events(job_id)
        ),
        timeout=20,
    )
    described = " ".join(_describe(platform, job_id).split())
    assert " ".join(message.split()) in described
    return reason, message


def _llm_job(platform: Platform, data: str, config: dict[str, Any]) -> str:
    dataset = platform.client.datasets.create(name="text", format="jsonl", source=data)
    job = platform.client.training.jobs.create(
        name="fails", model_type="llm", dataset_id=dataset.id, gpu_type="a100", config=config
    )
    return job.id


def test_a_missing_model_path_is_named_as_missing(platform: Platform, tiny_model: Path) -> None:
    _, data = put_language_assets(platform, tiny_model, learnable_records(8))
    job_id = _llm_job(platform, data, lora_config("/datasets/models/not-there"))
    reason, message = _failed_everywhere(platform, job_id)
    assert reason == "ConfigurationError"
    # The path as the pod mounts it (the sandbox mounts the data volume at /datasets, as a kubelet does).
    assert re.fullmatch(
        r"config\.baseModel: /datasets/models/not-there does not exist on the worker .*", message
    )
    assert "Repo id" not in message


def test_a_malformed_jsonl_line_is_named_by_file_and_line_in_whole_sentences(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(8))
    local = platform.dataset_volume / "text" / "train.jsonl"
    lines = local.read_text().splitlines()
    lines[4] = '{"text": "' + PRIVATE
    local.write_text("\n".join(lines) + "\n")
    job_id = _llm_job(platform, data, lora_config(model))
    reason, message = _failed_everywhere(platform, job_id)
    assert reason == "DataError"
    assert re.fullmatch(r"/datasets/text/train\.jsonl:5: not valid JSON: [A-Z][a-z ]+ at column \d+", message)
    assert PRIVATE not in message
    # The dataset check before admission found it: no worker started; the Dataset says it is invalid.
    resource = platform.job_resource(job_id)
    assert resource["status"].get("attempts", 0) == 0
    assert all(e.reason != "WorkersCreated" for e in platform.client.training.jobs.events(job_id))


def test_a_dataset_whose_file_is_missing_fails_before_any_worker_starts(
    platform: Platform, tiny_model: Path
) -> None:
    model, _ = put_language_assets(platform, tiny_model, learnable_records(8))
    job_id = _llm_job(platform, "/datasets/text/not-there.jsonl", lora_config(model))
    reason, message = _failed_everywhere(platform, job_id)
    assert reason == "DataError"
    assert message.endswith("/datasets/text/not-there.jsonl: dataset not found")
    assert "tensorone-pod" not in message  # the pod's path, not where the sandbox keeps the volume
    assert platform.job_resource(job_id)["status"].get("attempts", 0) == 0


def test_good_data_is_counted_into_the_dataset_status(platform: Platform, tiny_model: Path) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(12))
    dataset = platform.client.datasets.create(name="counted", format="jsonl", source=data)
    job = platform.client.training.jobs.create(
        name="counts", model_type="llm", dataset_id=dataset.id, gpu_type="a100",
        config=lora_config(model, epochs=1),
    )  # fmt: skip
    platform.wait_job(job.id, lambda j: j.status in {"running", "completed"}, "the start", timeout=240)
    name = dataset.id.replace("_", "-")
    status = platform.kube.get(
        f"/apis/training.tensorone.ai/v1/namespaces/{NAMESPACE}/datasets/{name}"
    ).json()["status"]
    assert (status["phase"], status["numExamples"]) == ("Ready", 12)
    assert status["sizeBytes"] > 0
    assert status["message"].startswith("checked: 12 examples; records from ")
    seen = platform.client.datasets.get(dataset.id)  # what a user sees through the API
    assert (seen.status, seen.num_examples, seen.size_bytes) == ("Ready", 12, status["sizeBytes"])


CRASHING = """
def train(context):
    context.report(step=1, loss=1.0)
    settings = {"lr": 0.1}
    return settings["learning_rate"]
"""


def test_custom_code_that_raises_fails_the_job_with_its_exception_and_line(platform: Platform) -> None:
    dataset = platform.client.datasets.create(name="x", format="jsonl", source="/datasets/x.jsonl")
    job = platform.client.training.jobs.create(
        name="crashes", model_type="custom", dataset_id=dataset.id, gpu_type="a100",
        config={"customCode": CRASHING, "training": {"epochs": 1}},
    )  # fmt: skip
    platform.kube.patch(
        f"/apis/training.tensorone.ai/v1/namespaces/{NAMESPACE}/trainingjobs/{job.id.replace('_', '-')}",
        json={"spec": {"runPolicy": {"backoffLimit": 0}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()
    reason, message = _failed_everywhere(platform, job.id)
    assert reason == "BackoffLimitExceeded"
    assert message.startswith("worker 0 (exit 1): customCode raised KeyError at line 5: 'learning_rate'")
