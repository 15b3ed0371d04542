"""REST requests become TrainingJob specs, and TrainingJobs become the REST job object, as API.md says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tensorone.api.errors import ApiError, ConfigurationError, ErrorCode
from tensorone.api.resources import TrainingJobResource, training_job_manifest
from tensorone.api.rest import human_duration, human_size
from tensorone.api.spec import LlmJobSpec, VisionJobSpec
from tensorone.api.translate import compact_create_response, job_object, job_summary, plan_create


def shape_a(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "support-bot",
        "modelType": "llm",
        "datasetId": "ds_0123456789abcdef",
        "config": {
            "baseModel": "meta-llama/Llama-2-7b-hf",
            "training": {"epochs": 2, "batch_size": 8, "learning_rate": 0.0003, "optimizer": "adam"},
        },
        "gpuType": "rtx4090",
    }
    body.update(overrides)
    return body


def shape_b(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "support-bot",
        "framework": "pytorch",
        "modelConfig": {"modelType": "language_model", "baseModel": "meta-llama/Llama-2-7b-hf"},
        "datasetConfig": {"datasetId": "ds_0123456789abcdef"},
        "hyperparameters": {"learningRate": 0.0003, "batchSize": 8, "epochs": 2, "optimizer": "Adam"},
        "infrastructure": {"gpuType": "rtx-4090", "gpuCount": 1},
    }
    body.update(overrides)
    return body


def refusal(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        plan_create(body)
    return caught.value


def test_both_request_shapes_give_the_same_spec() -> None:
    assert plan_create(shape_a()).spec == plan_create(shape_b()).spec


def test_defaults_are_filled_and_lora_alpha_is_twice_the_rank() -> None:
    body = shape_a(config={"baseModel": "gpt2", "parameters": {"rank": 32}})
    spec = plan_create(body).spec
    assert isinstance(spec, LlmJobSpec)
    assert spec.config.parameters.alpha == 64
    assert spec.config.strategy == "lora"
    assert spec.max_workers == 1
    assert spec.priority == "normal"


def test_vision_size_suffix_defaults_to_n() -> None:
    spec = plan_create(shape_a(modelType="vision", config={"architecture": "yolo11"})).spec
    assert isinstance(spec, VisionJobSpec)
    assert spec.config.architecture == "yolo11n"
    assert spec.config.input_size == [640, 640]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            shape_a(config={"baseModel": "m", "training": {"learning_rate": 0.5}}),
            "config.training.learning_rate",
            id="a-learning-rate",
        ),
        pytest.param(
            shape_b(hyperparameters={"learningRate": 0.5}), "hyperparameters.learningRate", id="b-lr"
        ),
        pytest.param(shape_b(hyperparameters={"batchSize": 0}), "hyperparameters.batchSize", id="b-batch"),
        pytest.param(
            shape_b(hyperparameters={"optimizer": "lion"}), "hyperparameters.optimizer", id="b-optimizer"
        ),
        pytest.param(shape_b(infrastructure={"gpuType": "tpu"}), "infrastructure.gpuType", id="b-gpu-type"),
        pytest.param(shape_b(infrastructure={"gpuCount": 9}), "infrastructure.gpuCount", id="b-gpu-count"),
        pytest.param(shape_b(infrastructure={"memory": "a lot"}), "infrastructure.memory", id="b-memory"),
        pytest.param(shape_b(framework="jax"), "framework", id="b-framework"),
        pytest.param(shape_a(maxWorkers=33), "maxWorkers", id="a-workers"),
        pytest.param(shape_a(name=""), "name", id="a-empty-name"),
        pytest.param(shape_a(modelType="multimodal"), "modelType", id="a-multimodal"),
        pytest.param(shape_a(status="running"), "status", id="a-status-is-not-settable"),
        pytest.param(shape_a(id="job_0000000000000000"), "id", id="a-id-is-not-settable"),
        pytest.param(
            shape_a(config={"baseModel": "m", "input_size": [64, 64]}), "config.input_size", id="a-foreign"
        ),
        pytest.param(
            shape_a(modelType="vision", config={"input_size": [640, 100]}),
            "config.input_size[1]",
            id="a-input-size",
        ),
        pytest.param(
            shape_b(modelConfig={"modelType": "language_model"}),
            "modelConfig.baseModel",
            id="b-missing-base-model",
        ),
        pytest.param(
            shape_b(datasetConfig={"datasetId": "ds_1", "datasetUrl": "s3://b/d"}),
            "datasetConfig",
            id="b-two-sources",
        ),
    ],
)
def test_refusal_names_the_field_as_the_client_sent_it(body: dict[str, Any], field: str) -> None:
    error = refusal(body)
    assert isinstance(error, ConfigurationError)
    assert error.http_status == 400
    assert error.to_body()["details"]["field"] == field
    assert error.to_body()["details"]["reason"]


def test_several_problems_are_all_listed() -> None:
    error = refusal(shape_a(maxWorkers=0, priority="urgent"))
    body = error.to_body()
    assert {e["field"] for e in body["details"]["errors"]} == {"maxWorkers", "priority"}
    assert body["details"]["field"] in {"maxWorkers", "priority"}


def test_wrong_json_types_are_refused_not_coerced() -> None:
    error = refusal(shape_a(maxWorkers="2"))
    assert error.to_body()["details"]["field"] == "maxWorkers"


def test_unusable_dataset_id_is_dataset_not_found() -> None:
    error = refusal(shape_a(datasetId="ds_Not A Name"))
    assert error.code == ErrorCode.DATASET_NOT_FOUND
    assert error.details == {"datasetId": "ds_Not A Name"}


def test_client_dataset_ids_need_not_have_the_generated_form() -> None:
    plan = plan_create(shape_a(datasetId="ds_vision_objects_001"))
    assert plan.spec.dataset_ref.name == "ds-vision-objects-001"


def test_compact_shape_with_a_volume_path_registers_an_ad_hoc_dataset() -> None:
    plan = plan_create(shape_b(datasetConfig={"datasetUrl": "/datasets/train.jsonl", "format": "jsonl"}))
    assert plan.ad_hoc_dataset is not None
    assert plan.ad_hoc_dataset.source == "/datasets/train.jsonl"
    assert plan.spec.dataset_ref.name == plan.dataset_id.replace("_", "-")


def test_compact_sizes_become_kubernetes_quantities() -> None:
    plan = plan_create(
        shape_b(infrastructure={"gpuType": "a100", "gpuCount": 2, "memory": "32GB", "storage": "100Gi"})
    )
    assert plan.spec.resources.memory == "32G"
    assert plan.spec.resources.storage == "100Gi"
    assert plan.spec.gpus_per_worker == 2


def _stored_job(status: dict[str, Any] | None = None) -> TrainingJobResource:
    manifest = training_job_manifest("job-0123456789abcdef", "team-a", plan_create(shape_a()).spec)
    manifest["metadata"]["creationTimestamp"] = "2024-01-15T10:30:00Z"
    manifest["status"] = status or {}
    return TrainingJobResource.from_k8s(manifest)


def test_new_job_reads_as_pending_with_id_and_documented_keys() -> None:
    body = job_object(_stored_job()).model_dump(mode="json", by_alias=True)
    assert body["id"] == "job_0123456789abcdef"
    assert body["status"] == "pending"  # the resource's "queued" never shows in a REST job object
    assert body["progress"]["totalEpochs"] == _stored_job().spec.config.training.epochs  # before any report
    assert body["datasetId"] == "ds_0123456789abcdef"
    assert body["createdAt"] == "2024-01-15T10:30:00Z"
    assert body["config"]["training"]["learning_rate"] == 0.0003
    for key in ("progress", "metrics", "resourceAllocation", "resourceUsage", "estimatedCost", "checkpoints"):
        assert key in body
    assert set(body["progress"]) == {
        "currentEpoch", "totalEpochs", "currentStep", "totalSteps", "percentage", "elapsedTime", "remainingTime",
    }  # fmt: skip


def test_running_job_shows_progress_metrics_checkpoints_and_cost() -> None:
    status = {
        "phase": "running",
        "startedAt": "2024-01-15T10:31:00Z",
        "progress": {"currentEpoch": 1, "totalEpochs": 2, "currentStep": 50, "totalSteps": 100, "percentage": 50.0,
                     "elapsedTime": 600, "remainingTime": 600},
        "metrics": {"currentLoss": 1.25, "bestLoss": 1.2, "throughput": "1250 tokens/sec"},
        "checkpoints": [{"id": "ckpt_epoch_1", "epoch": 1, "step": 50, "loss": 1.25,
                         "createdAt": "2024-01-15T10:41:00Z", "size": "2.3GB", "sizeBytes": 2300000000}],
        "resourceUsage": {"gpuSeconds": 3600, "gpuHours": 1.0, "cost": 0.7},
    }  # fmt: skip
    now = datetime(2024, 1, 15, 10, 41, tzinfo=UTC)
    body = job_object(_stored_job(status), now).model_dump(mode="json", by_alias=True)
    assert body["progress"]["percentage"] == 50.0
    assert body["metrics"]["currentLoss"] == 1.25
    assert body["checkpoints"][0] == {
        "id": "ckpt_epoch_1", "epoch": 1, "step": 50, "loss": 1.25, "createdAt": "2024-01-15T10:41:00Z", "size": "2.3GB",
    }  # fmt: skip
    assert body["resourceUsage"]["cost"] == 0.7
    assert body["optimizations"] is None  # the trainer has not said yet
    assert body["estimatedCompletion"] == "2024-01-15T10:51:00Z"
    summary = job_summary(_stored_job(status), now).model_dump(by_alias=True)
    assert set(summary) == {
        "id", "name", "status", "modelType", "progress", "metrics", "createdAt", "startedAt", "estimatedCompletion",
    }  # fmt: skip


def test_job_object_says_which_speed_options_the_trainer_used() -> None:
    chosen = {"packing": True, "attention": "sdpa", "mixedPrecision": "bf16", "fusedOptimizer": True,
              "pinnedMemory": True, "gradientCheckpointing": False, "compile": False, "asyncCheckpoint": True}  # fmt: skip
    body = job_object(_stored_job({"phase": "running", "optimizations": chosen})).model_dump(
        mode="json", by_alias=True
    )
    assert body["optimizations"] == chosen
    assert "optimizations" not in job_summary(_stored_job({"optimizations": chosen})).model_dump(
        by_alias=True
    )


def test_compact_create_response_has_the_documented_shape() -> None:
    response = compact_create_response(
        _stored_job(),
        duration_seconds=8100,
        gpu_cost=12.5,
        storage_cost=0.4,
        start=datetime(2024, 1, 15, tzinfo=UTC),
    ).model_dump(mode="json", by_alias=True)
    assert response["jobId"] == "job_0123456789abcdef"
    assert response["estimatedDuration"] == "2h 15m"
    assert response["estimatedCost"] == {"gpuCost": 12.5, "storageCost": 0.4, "totalCost": 12.9}
    assert response["status"] == "queued"


@pytest.mark.parametrize(
    ("seconds", "text"), [(59, "1m"), (8100, "2h 15m"), (90000, "1d 1h 0m")], ids=["minute", "hours", "days"]
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"), [(512, "512B"), (2_300_000_000, "2.3GB")], ids=["bytes", "gigabytes"]
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
