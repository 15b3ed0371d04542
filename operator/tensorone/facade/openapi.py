"""The OpenAPI document: both create shapes as components, request examples, the API-key scheme."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from tensorone.api import rest

CREATE_EXAMPLES: dict[str, Any] = {
    "shapeA_llm": {
        "summary": "Shape A: LoRA fine-tuning of an LLM",
        "value": {
            "name": "llama-support-bot",
            "modelType": "llm",
            "datasetId": "ds_0123456789abcdef",
            "config": {
                "baseModel": "meta-llama/Llama-2-7b-hf",
                "strategy": "lora",
                "parameters": {
                    "rank": 16,
                    "alpha": 32,
                    "dropout": 0.05,
                    "target_modules": ["q_proj", "v_proj"],
                },
                "training": {"epochs": 3, "batch_size": 4, "learning_rate": 0.0002},
            },
            "gpuType": "a100",
            "maxWorkers": 2,
        },
    },
    "shapeB_compact": {
        "summary": "Shape B: the compact form",
        "value": {
            "name": "gpt2-finetune",
            "framework": "pytorch",
            "modelConfig": {"modelType": "language_model", "baseModel": "gpt2"},
            "datasetConfig": {"datasetUrl": "/datasets/train.jsonl", "format": "jsonl"},
            "hyperparameters": {"learningRate": 0.0002, "batchSize": 8, "epochs": 1},
            "infrastructure": {"gpuType": "a100", "gpuCount": 1, "memory": "32GB", "storage": "100GB"},
        },
    },
}


def _component_schemas() -> dict[str, Any]:
    ref = "#/components/schemas/{model}"
    schemas: dict[str, Any] = {}
    for model in (rest.CreateJobRequest, rest.CreateJobRequestCompact):
        schema = TypeAdapter(model).json_schema(by_alias=True, ref_template=ref, mode="validation")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that adds the create shapes and caches the document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _component_schemas().items():
                components.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
