"""The manifests in examples/ are accepted by the installed CRDs and by the operator's models."""

from __future__ import annotations

import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tensorone.api.resources import DatasetResource, TrainingJobResource
from tensorone.api.spec import ModelType
from tests.unit.chart.rendering import REPO, Manifest

EXAMPLES = REPO / "examples"
CRDS = {
    crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for crd in (yaml.safe_load(p.read_text()) for p in (REPO / "crds").glob("*.yaml"))
}


def _documents() -> list[tuple[str, Manifest]]:
    return [
        (f"{path.name}:{doc['kind']}", doc)
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


DOCUMENTS = _documents()
examples_params = pytest.mark.parametrize(
    "document", [d for _, d in DOCUMENTS], ids=[i for i, _ in DOCUMENTS]
)


def _unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    # Under kubectl's default fieldValidation=Strict the API server refuses keys no `properties` declares.
    if isinstance(value, dict) and "properties" in schema:
        return [
            found
            for key, sub in value.items()
            for found in (
                [f"{path}.{key}"] if key not in schema["properties"]
                else _unknown_fields(schema["properties"][key], sub, f"{path}.{key}")
            )
        ]  # fmt: skip
    if isinstance(value, list) and "items" in schema:
        return [
            f for i, item in enumerate(value) for f in _unknown_fields(schema["items"], item, f"{path}[{i}]")
        ]
    return []


def test_examples_cover_an_llm_lora_job_a_yolo_job_and_a_dataset() -> None:
    kinds = [d["kind"] for _, d in DOCUMENTS]
    model_types = {d["spec"]["modelType"] for _, d in DOCUMENTS if d["kind"] == "TrainingJob"}
    assert "Dataset" in kinds
    assert model_types == {ModelType.LLM.value, ModelType.VISION.value}


@examples_params
def test_example_is_accepted_by_the_crd_schema(document: Manifest) -> None:
    schema = CRDS[document["kind"]]
    errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(document)]
    assert errors == []
    assert _unknown_fields(schema, document) == []


@examples_params
def test_example_is_accepted_by_the_operator_models(document: Manifest) -> None:
    if document["kind"] == "TrainingJob":
        job = TrainingJobResource.from_k8s(document)
        assert job.spec.display_name == document["spec"]["displayName"]
    else:
        dataset = DatasetResource.from_k8s(document)
        assert dataset.spec.source == document["spec"]["source"]


@examples_params
def test_example_name_is_an_api_id_and_its_dataset_is_an_example_too(document: Manifest) -> None:
    prefix = "job" if document["kind"] == "TrainingJob" else "ds"
    assert re.fullmatch(prefix + r"-[0-9a-f]{16}", document["metadata"]["name"])
    assert "namespace" not in document["metadata"], "examples are applied with --namespace"
    if document["kind"] == "TrainingJob":
        datasets = {d["metadata"]["name"] for _, d in DOCUMENTS if d["kind"] == "Dataset"}
        assert document["spec"]["datasetRef"]["name"] in datasets
