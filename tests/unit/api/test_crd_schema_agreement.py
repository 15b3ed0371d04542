"""The generated CRD schema and the pydantic models accept and refuse the same manifests.

The API server validates with the CRD's openAPIV3Schema (and, with kubectl's default ``fieldValidation=Strict``,
refuses unknown fields); the operator and facade validate with the pydantic models. If the two disagreed, a job
could be accepted by ``kubectl apply`` and then fail admission, or the other way round.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tensorone.api.crd_gen import dataset_crd, training_job_crd
from tensorone.api.errors import ConfigurationError
from tensorone.api.resources import DatasetResource, parse_training_job_spec

from .manifests import custom_job, llm_job, vision_job, with_config

SCHEMA = training_job_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields the API server refuses under ``fieldValidation=Strict``: keys no ``properties`` declares."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}".lstrip("."))
            else:
                found.extend(unknown_fields(schema["properties"][key], sub, f"{path}.{key}"))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found.extend(unknown_fields(schema["items"], item, f"{path}[{index}]"))
    return found


def crd_accepts(manifest: dict[str, Any]) -> bool:
    schema_ok = jsonschema.Draft4Validator(SCHEMA).is_valid(manifest)
    return schema_ok and not unknown_fields(SCHEMA, manifest)


def pydantic_accepts(manifest: dict[str, Any]) -> bool:
    try:
        parse_training_job_spec(manifest["spec"])
    except ConfigurationError:
        return False
    return True


def _without(job: dict[str, Any], key: str) -> dict[str, Any]:
    job["spec"].pop(key)
    return job


CASES = [
    pytest.param(llm_job(), True, id="llm-minimal-valid"),
    pytest.param(vision_job(), True, id="vision-valid"),
    pytest.param(custom_job(), True, id="custom-code-valid"),
    pytest.param(
        custom_job(config={"image": "ghcr.io/me/train:1", "command": ["python", "t.py"]}),
        True,
        id="custom-image",
    ),
    pytest.param(llm_job(maxWorkers=32, gpusPerWorker=8, priority="high"), True, id="max-workers-and-gpus"),
    pytest.param(llm_job(maxWorkers=0), False, id="zero-workers"),
    pytest.param(llm_job(maxWorkers=33), False, id="too-many-workers"),
    pytest.param(llm_job(gpusPerWorker=9), False, id="too-many-gpus-per-worker"),
    pytest.param(llm_job(gpuType="t4"), False, id="unknown-gpu-type"),
    pytest.param(llm_job(priority="urgent"), False, id="unknown-priority"),
    pytest.param(llm_job(modelType="multimodal"), False, id="multimodal-not-runnable"),
    pytest.param(llm_job(displayName=""), False, id="empty-name"),
    pytest.param(llm_job(displayName="x" * 101), False, id="name-too-long"),
    pytest.param(_without(llm_job(), "datasetRef"), False, id="missing-dataset"),
    pytest.param(_without(llm_job(), "config"), False, id="missing-config"),
    pytest.param(llm_job(colour="blue"), False, id="unknown-spec-field"),
    pytest.param(with_config(llm_job(), "training.learning_rate", 0.5), False, id="lr-too-high"),
    pytest.param(with_config(llm_job(), "training.learning_rate", 1e-7), False, id="lr-too-low"),
    pytest.param(with_config(llm_job(), "training.epochs", 0), False, id="zero-epochs"),
    pytest.param(
        with_config(llm_job(), "training.validation_split", 0.6), False, id="validation-split-too-big"
    ),
    pytest.param(with_config(llm_job(), "training.optimizer", "lion"), False, id="unknown-optimizer"),
    pytest.param(with_config(llm_job(), "parameters.rank", 2048), False, id="rank-too-big"),
    pytest.param(with_config(llm_job(), "parameters.alpha", 0), False, id="alpha-not-positive"),
    pytest.param(with_config(llm_job(), "parameters.dropout", 1.5), False, id="dropout-above-one"),
    pytest.param(with_config(llm_job(), "parameters.target_modules", []), False, id="empty-target-modules"),
    pytest.param(with_config(llm_job(), "strategy", "qlora"), True, id="qlora-strategy"),
    pytest.param(with_config(llm_job(), "strategy", "prefix"), False, id="unknown-strategy"),
    pytest.param(
        with_config(llm_job(), "optimization.mixed_precision", "fp8"), False, id="unknown-precision"
    ),
    pytest.param(with_config(llm_job(), "optimization.max_grad_norm", 0), False, id="grad-norm-not-positive"),
    pytest.param(with_config(llm_job(), "optimization.packing", False), True, id="packing-off"),
    pytest.param(with_config(llm_job(), "optimization.packing", "yes"), False, id="packing-not-bool"),
    pytest.param(with_config(llm_job(), "architecture", "yolov8"), False, id="llm-with-vision-key"),
    pytest.param(with_config(llm_job(), "training.momentum", 0.9), False, id="llm-with-vision-training-key"),
    pytest.param(with_config(llm_job(), "training.seed", 7), True, id="llm-seed"),
    pytest.param(with_config(vision_job(), "input_size", [640, 100]), False, id="input-not-multiple-of-32"),
    pytest.param(with_config(vision_job(), "input_size", [4096, 4096]), False, id="input-too-large"),
    pytest.param(with_config(vision_job(), "input_size", [640]), False, id="input-size-one-value"),
    pytest.param(with_config(vision_job(), "architecture", "resnet50"), False, id="unknown-architecture"),
    pytest.param(with_config(vision_job(), "num_classes", 0), False, id="zero-classes"),
    pytest.param(with_config(vision_job(), "augmentation.mixup", 1.5), False, id="mixup-above-one"),
    pytest.param(with_config(vision_job(), "augmentation.hsv_h", 0.5), True, id="hsv-in-range"),
    pytest.param(with_config(vision_job(), "training.momentum", 0.9), True, id="vision-momentum"),
    pytest.param(with_config(vision_job(), "baseModel", "gpt2"), False, id="vision-with-llm-key"),
    pytest.param(
        with_config(vision_job(), "training.warmup_steps", 5), False, id="vision-with-llm-training-key"
    ),
    pytest.param(
        with_config(custom_job(), "image", "ghcr.io/me/train:1"), False, id="custom-code-and-image-together"
    ),
    pytest.param(
        custom_job(config={"image": "ghcr.io/me/train:1"}), False, id="custom-image-without-command"
    ),
    pytest.param(llm_job(runPolicy={"backoffLimit": 101}), False, id="backoff-limit-too-big"),
    pytest.param(llm_job(runPolicy={"backoffLimit": 0, "activeDeadlineSeconds": 60}), True, id="run-policy"),
    pytest.param(llm_job(maxCost=0), False, id="max-cost-zero"),
    pytest.param(llm_job(resources={"memory": "32Gi", "storage": "100G"}), True, id="resources"),
    pytest.param(llm_job(resources={"memory": "lots"}), False, id="memory-not-a-quantity"),
    pytest.param(llm_job(tags=["a", ""]), False, id="empty-tag"),
    pytest.param(llm_job(datasetRef={"name": "Not_A_Name"}), False, id="dataset-ref-not-a-dns-name"),
    pytest.param(llm_job(suspend="yes"), False, id="suspend-not-bool"),
    # Bounds: every number has a maximum the API server enforces too.
    pytest.param(with_config(llm_job(), "training.epochs", 10_000), True, id="epochs-at-max"),
    pytest.param(with_config(llm_job(), "training.epochs", 10**30), False, id="epochs-10e30"),
    pytest.param(with_config(llm_job(), "training.batch_size", 4097), False, id="batch-size-above-max"),
    pytest.param(with_config(llm_job(), "training.seed", 2**32), False, id="seed-above-32-bits"),
    pytest.param(with_config(llm_job(), "training.warmup_steps", 10**7 + 1), False, id="warmup-above-max"),
    pytest.param(with_config(llm_job(), "optimization.max_grad_norm", 1e4), False, id="grad-norm-above-max"),
    pytest.param(
        with_config(llm_job(), "parameters.target_modules", ["q"] * 65), False, id="modules-too-many"
    ),
    pytest.param(with_config(vision_job(), "num_classes", 10_001), False, id="classes-above-max"),
    pytest.param(llm_job(runPolicy={"activeDeadlineSeconds": 10**9}), False, id="deadline-above-a-year"),
    pytest.param(llm_job(maxCost=1e12), False, id="max-cost-above-max"),
    pytest.param(llm_job(resources={"memory": "9" * 16 + "Gi"}), False, id="memory-too-many-digits"),
    # Plain-text names and tags.
    pytest.param(
        llm_job(displayName="Llama \u00e9t\u00e9 \U0001f999"), True, id="name-unicode-letters-and-emoji"
    ),
    pytest.param(llm_job(displayName="a\u202eb"), False, id="name-rtl-override"),
    pytest.param(llm_job(displayName="a\x00b"), False, id="name-nul"),
    pytest.param(llm_job(displayName="a\nb"), False, id="name-newline"),
    pytest.param(llm_job(tags=["ok", "\u2067x"]), False, id="tag-bidi-isolate"),
    pytest.param(llm_job(tags=["\x9b31m"]), False, id="tag-c1-control"),
    # Where models come from: a hub id or a path on the account's data volume.
    pytest.param(with_config(llm_job(), "baseModel", "gpt2"), True, id="model-bare-hub-id"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasets/models/tiny"), True, id="model-volume-path"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasets/a/..b/...c"), True, id="model-dots-in-names"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasets/../x"), False, id="model-dot-dot"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasets/./x"), False, id="model-dot"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasets//x"), False, id="model-empty-segment"),
    pytest.param(with_config(llm_job(), "baseModel", "/etc/passwd"), False, id="model-host-path"),
    pytest.param(with_config(llm_job(), "baseModel", "/datasetsX/m"), False, id="model-prefix-lookalike"),
    pytest.param(with_config(llm_job(), "baseModel", "../m"), False, id="model-relative"),
    pytest.param(with_config(llm_job(), "baseModel", "hf://meta-llama/x"), False, id="model-url"),
    pytest.param(with_config(llm_job(), "baseModel", "org/name/extra"), False, id="model-three-segments"),
    pytest.param(with_config(vision_job(), "weights", "/datasets/w/best.pt"), True, id="weights-volume-path"),
    pytest.param(with_config(vision_job(), "weights", "/root/best.pt"), False, id="weights-host-path"),
]


@pytest.mark.parametrize(("manifest", "valid"), CASES)
def test_crd_schema_and_models_agree(manifest: dict[str, Any], valid: bool) -> None:
    assert pydantic_accepts(manifest) is valid
    assert crd_accepts(manifest) is valid


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


# Checks no OpenAPI schema can state; the operator's admission (which parses with the models) catches them.
SCHEMA_CANNOT_STATE = [
    pytest.param(
        custom_job(config={"customCode": "def fit(ctx):\n    pass\n"}), id="custom-code-without-train"
    ),
    pytest.param(custom_job(config={"customCode": "def train(:\n"}), id="custom-code-syntax-error"),
]


@pytest.mark.parametrize("manifest", SCHEMA_CANNOT_STATE)
def test_models_refuse_what_the_schema_cannot_state(manifest: dict[str, Any]) -> None:
    assert crd_accepts(manifest)
    assert not pydantic_accepts(manifest)


DATASET_SCHEMA = dataset_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
DATASET_SOURCES = [
    pytest.param("/datasets/text/train.jsonl", True, id="file-on-the-volume"),
    pytest.param("/datasets/shapes/", True, id="folder-on-the-volume"),
    pytest.param("/datasets", True, id="the-whole-volume"),
    pytest.param("/datasets/../../tensorone-default/datasets/secret.jsonl", False, id="dot-dot"),
    pytest.param("/datasets/a/../../b", False, id="dot-dot-inside"),
    pytest.param("/etc/passwd", False, id="host-path"),
    pytest.param("/", False, id="host-root"),
    pytest.param("/datasetsX", False, id="prefix-lookalike"),
    pytest.param("file:///datasets/x", False, id="file-url"),
    pytest.param("s3://bucket/x", True, id="s3"),
    pytest.param("hf://datasets/org/name/train.jsonl@main", True, id="hf-dataset"),
    pytest.param("https://example.com/train.jsonl", True, id="https"),
    pytest.param("gs://bucket/x", False, id="gs-not-fetched"),
    pytest.param("S3://bucket/x", False, id="upper-case-scheme"),
    pytest.param("datasets/x", False, id="relative"),
    pytest.param("/datasets/a\tb", False, id="control-character"),
]


@pytest.mark.parametrize(("source", "valid"), DATASET_SOURCES)
def test_dataset_crd_and_model_agree_on_sources(source: str, valid: bool) -> None:
    manifest = {
        "metadata": {"name": "ds-1"},
        "spec": {"displayName": "d", "format": "jsonl", "source": source},
    }
    try:
        DatasetResource.from_k8s(manifest)
        model_ok = True
    except ConfigurationError:
        model_ok = False
    assert model_ok is valid
    assert jsonschema.Draft4Validator(DATASET_SCHEMA).is_valid(manifest) is valid
