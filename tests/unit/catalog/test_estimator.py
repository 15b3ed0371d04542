"""Cost, duration and memory-fit estimates follow the documented model and the configured prices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tensorone.api.errors import ConfigurationError
from tensorone.api.translate import plan_create
from tensorone.catalog import load_catalog
from tensorone.catalog.estimator import DatasetSize, check_fits, estimate, parameter_count, quantity_bytes


def spec(**overrides: Any) -> Any:
    body: dict[str, Any] = {
        "name": "j",
        "modelType": "llm",
        "datasetId": "ds_0123456789abcdef",
        "config": {"baseModel": "meta-llama/Llama-2-7b-hf", "training": {"epochs": 1}},
        "gpuType": "a100",
    }
    body.update(overrides)
    return plan_create(body).spec


def test_hourly_cost_is_price_times_gpus_per_worker_times_workers() -> None:
    catalog = load_catalog()
    result = estimate(spec(maxWorkers=4), catalog)
    assert result.hourly == pytest.approx(catalog.gpu("a100").price_per_hour * 4)
    assert result.total == pytest.approx(result.hourly * result.duration_seconds / 3600, rel=1e-3)


def test_lora_duration_follows_four_n_tokens_flops() -> None:
    catalog = load_catalog()
    tokens = 1_000_000 * catalog.tokens_per_byte
    result = estimate(spec(), catalog, DatasetSize(size_bytes=1_000_000))
    expected = 4 * 7e9 * tokens / (312e12 * catalog.assumed_utilization)
    assert result.duration_seconds == pytest.approx(expected)


def test_full_fine_tuning_takes_one_and_a_half_times_lora() -> None:
    catalog = load_catalog()
    lora = estimate(spec(), catalog, DatasetSize(size_bytes=10**8))
    full = estimate(
        spec(config={"baseModel": "gpt2", "strategy": "full"}), catalog, DatasetSize(size_bytes=10**8)
    )
    lora_small = estimate(spec(config={"baseModel": "gpt2"}), catalog, DatasetSize(size_bytes=10**8))
    assert full.duration_seconds == pytest.approx(1.5 * lora_small.duration_seconds)
    assert lora.duration_seconds > lora_small.duration_seconds


def test_more_workers_finish_sooner_for_the_same_total_gpu_cost() -> None:
    catalog = load_catalog()
    one, four = estimate(spec(), catalog), estimate(spec(maxWorkers=4), catalog)
    assert four.duration_seconds == pytest.approx(one.duration_seconds / 4)
    assert four.gpu_cost == pytest.approx(one.gpu_cost, rel=1e-3)


def test_prices_come_from_the_configuration_file(tmp_path: Path) -> None:
    defaults = yaml.safe_load(load_catalog().model_dump_json(by_alias=True))
    defaults["gpus"]["a100"]["pricePerHour"] = 10.0
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(defaults))
    assert estimate(spec(), load_catalog(path)).hourly == 10.0


def test_vision_duration_uses_the_images_per_second_table() -> None:
    catalog = load_catalog()
    vision = spec(modelType="vision", config={"architecture": "yolov8n", "training": {"epochs": 10}})
    result = estimate(vision, catalog, DatasetSize(num_examples=4200))
    rate = catalog.gpu("a100").yolo_images_per_second["n"]
    assert result.duration_seconds == pytest.approx(4200 * 0.8 * 10 / rate)


def test_too_large_a_model_for_the_gpu_is_refused_with_how_much_it_needs() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_fits(
            spec(config={"baseModel": "meta-llama/Llama-2-70b-hf", "strategy": "full"}), load_catalog()
        )
    assert caught.value.field == "gpuType"
    assert "needs about" in caught.value.reason
    assert "80 GB" in caught.value.reason


def test_lora_of_a_7b_model_fits_an_a100() -> None:
    check_fits(spec(), load_catalog())


def test_bf16_is_refused_on_v100() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_fits(
            spec(gpuType="v100", config={"baseModel": "gpt2", "optimization": {"mixed_precision": "bf16"}}),
            load_catalog(),
        )
    assert caught.value.field == "config.optimization.mixed_precision"


def test_parameter_count_is_read_from_a_local_model_config(tmp_path: Path) -> None:
    config = {"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 1000, "intermediate_size": 128,
              "num_attention_heads": 4, "hidden_act": "silu", "tie_word_embeddings": False}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    per_layer = 4 * 64 * 64 + 3 * 64 * 128
    assert parameter_count(str(tmp_path)) == 2 * per_layer + 2 * 1000 * 64


@pytest.mark.parametrize(
    ("name", "count"),
    [("meta-llama/Llama-2-7b-hf", 7e9), ("Qwen/Qwen2.5-0.5B", 0.5e9), ("gpt2", 124e6), ("my-model", None)],
    ids=["llama-7b", "qwen-0.5b", "gpt2-table", "unknown"],
)
def test_parameter_count_from_name(name: str, count: float | None) -> None:
    assert parameter_count(name) == count


@pytest.mark.parametrize(
    ("q", "b"), [("100Gi", 100 * 2**30), ("32G", 32e9), ("512", 512.0)], ids=["Gi", "G", "bare"]
)
def test_quantity_bytes(q: str, b: float) -> None:
    assert quantity_bytes(q) == b


def test_a_huge_dataset_caps_the_estimate_instead_of_overflowing_dates() -> None:
    from datetime import UTC, datetime, timedelta

    from tensorone.catalog.estimator import MAX_ESTIMATED_SECONDS

    guess = estimate(
        spec(config={"baseModel": "gpt2", "training": {"epochs": 10_000}}),
        load_catalog(),
        DatasetSize(size_bytes=10**18),
    )
    assert guess.duration_seconds == MAX_ESTIMATED_SECONDS
    assert datetime.now(UTC) + timedelta(seconds=guess.duration_seconds) > datetime.now(UTC)
