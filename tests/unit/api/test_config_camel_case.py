"""``config`` keys in camelCase, as the seed's JavaScript example writes them, mean the same job as snake_case."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.api.errors import ApiError, ConfigurationError
from tensorone.api.translate import plan_create


def job(model_type: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"name": "n", "modelType": model_type, "datasetId": "ds_0123456789abcdef", "config": config}


SEED_LLM_CAMEL = {
    "baseModel": "meta-llama/Llama-2-7b-hf",
    "strategy": "lora",
    "parameters": {"rank": 16, "alpha": 32, "dropout": 0.1, "targetModules": ["q_proj", "v_proj"]},
    "training": {"epochs": 3, "batchSize": 4, "learningRate": 0.0002, "weightDecay": 0.01},
    "optimization": {"mixedPrecision": "bf16", "maxGradNorm": 0.5},
}
SEED_LLM_SNAKE = {
    "baseModel": "meta-llama/Llama-2-7b-hf",
    "strategy": "lora",
    "parameters": {"rank": 16, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
    "training": {"epochs": 3, "batch_size": 4, "learning_rate": 0.0002, "weight_decay": 0.01},
    "optimization": {"mixed_precision": "bf16", "max_grad_norm": 0.5},
}


@pytest.mark.parametrize(
    ("model_type", "camel", "snake"),
    [
        pytest.param("llm", SEED_LLM_CAMEL, SEED_LLM_SNAKE, id="llm-seed-example"),
        pytest.param(
            "vision",
            {"inputSize": [320, 320], "numClasses": 2, "augmentation": {"copyPaste": 0.1, "hsvH": 0.02}},
            {"input_size": [320, 320], "num_classes": 2, "augmentation": {"copy_paste": 0.1, "hsv_h": 0.02}},
            id="vision",
        ),
    ],
)
def test_camel_case_config_gives_the_same_job_as_snake_case(
    model_type: str, camel: dict[str, Any], snake: dict[str, Any]
) -> None:
    assert plan_create(job(model_type, camel)).spec == plan_create(job(model_type, snake)).spec


def test_the_stored_config_keeps_the_apis_spelling() -> None:
    stored = plan_create(job("llm", SEED_LLM_CAMEL)).spec.to_wire()["config"]
    assert stored["training"]["batch_size"] == 4
    assert stored["parameters"]["target_modules"] == ["q_proj", "v_proj"]
    assert "batchSize" not in stored["training"]


def refusal(body: dict[str, Any]) -> ConfigurationError:
    with pytest.raises(ApiError) as caught:
        plan_create(body)
    assert isinstance(caught.value, ConfigurationError)
    return caught.value


def test_a_bad_camel_case_value_is_named_as_the_client_sent_it() -> None:
    error = refusal(job("llm", {"baseModel": "m", "training": {"learningRate": 5}}))
    assert error.field == "config.training.learningRate"


def test_one_key_in_both_spellings_is_refused() -> None:
    error = refusal(job("llm", {"baseModel": "m", "training": {"batch_size": 4, "batchSize": 8}}))
    assert (error.field, error.reason) == ("config.training.batchSize", "unknown field")
