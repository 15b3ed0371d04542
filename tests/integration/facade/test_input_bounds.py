"""Untrusted input through REST: paths confined to the account's data volume, every number bounded and finite,
strict JSON, plain-text names, bounded bodies, and a rate limit before authentication.

Each refusal answers with the contract's error body naming the field, and creates nothing (checked through the
list endpoints and in the cluster, as kubectl would show it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tensorone.facade.testing import RunningFacade, running_facade
from tensorone.sandbox.testing import RunningSandbox
from tests.integration.facade.harness import JOBS_PATH, Account, Cluster, new_account, shape_a, shape_b

DATASETS_PATH = "/apis/training.tensorone.ai/v1/namespaces/{ns}/datasets"


def assert_nothing_created(account: Account, cluster: Cluster, *, datasets: int = 0) -> None:
    assert account.api.get("/v2/training/jobs").json()["jobs"] == []
    assert cluster.http.get(JOBS_PATH.format(ns=account.namespace)).json()["items"] == []
    assert len(account.api.get("/v2/datasets").json()["datasets"]) == datasets
    assert len(cluster.http.get(DATASETS_PATH.format(ns=account.namespace)).json()["items"]) == datasets


def assert_refused(response: httpx.Response, field: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "message", "details"}
    if status == 400:
        assert body["error"] == "CONFIGURATION_ERROR"
    assert body["details"]["field"] == field
    assert body["details"]["reason"]
    return body


# ---- data paths --------------------------------------------------------------------------------------------

TRAVERSAL = "/datasets/../../tensorone-default/datasets/secret.jsonl"
BAD_SOURCES = [
    pytest.param(TRAVERSAL, "'..'", id="dot-dot-into-another-tenant"),
    pytest.param("/datasets/text/../../../etc/passwd", "'..'", id="dot-dot-to-the-host"),
    pytest.param("/etc/passwd", "inside the account's data volume", id="host-file"),
    pytest.param("/root/", "inside the account's data volume", id="root-home"),
    pytest.param("/datasetsX/train.jsonl", "inside the account's data volume", id="prefix-lookalike"),
    pytest.param("file:///datasets/train.jsonl", "file://", id="file-url"),
    pytest.param("s3://Bucket_1/train.jsonl", "bucket", id="s3-bad-bucket"),
    pytest.param("s3://bucket/a/../../b.jsonl", "'..'", id="s3-key-dot-dot"),
    pytest.param("hf://yahma/alpaca", "hf://datasets/org/name", id="hf-not-a-dataset"),
    pytest.param("https://user:pw@example.com/train.jsonl", "credentials", id="https-credentials-in-url"),
    pytest.param("gs://bucket/train.jsonl", "not supported yet", id="gs-not-fetched"),
    pytest.param("train.jsonl", "absolute path", id="relative"),
    pytest.param("/datasets/a\u0000b.jsonl", "control characters", id="nul"),
]


@pytest.mark.parametrize(("source", "says"), BAD_SOURCES)
def test_dataset_sources_outside_the_data_volume_are_refused(
    alice: Account, cluster: Cluster, cluster_sandbox: RunningSandbox, source: str, says: str
) -> None:
    response = alice.api.post("/v2/datasets", json={"name": "d", "format": "jsonl", "source": source})
    body = assert_refused(response, "source")
    assert says in body["details"]["reason"]
    assert_nothing_created(alice, cluster)


def test_sandbox_files_are_refused_as_sources(
    alice: Account, cluster: Cluster, cluster_sandbox: RunningSandbox
) -> None:
    for path in (cluster_sandbox.dir / "api-key", cluster_sandbox.kubeconfig_path):
        response = alice.api.post("/v2/datasets", json={"name": "d", "format": "jsonl", "source": str(path)})
        assert_refused(response, "source")
    assert_nothing_created(alice, cluster)


def test_a_path_on_the_data_volume_is_registered(alice: Account) -> None:
    response = alice.api.post(
        "/v2/datasets", json={"name": "d", "format": "jsonl", "source": "/datasets/text/train.jsonl"}
    )
    assert response.status_code == 201, response.text


BAD_MODELS = [
    pytest.param("/datasets/../../tensorone-default/checkpoints/job-x", id="dot-dot"),
    pytest.param("/etc/passwd", id="host-file"),
    pytest.param("/root/.cache/huggingface", id="root-home"),
    pytest.param("../models/llama", id="relative-dot-dot"),
    pytest.param("file:///datasets/models/llama", id="file-url"),
    pytest.param("hf://meta-llama/Llama-2-7b-hf", id="hf-url"),
    pytest.param("s3://bucket/model", id="s3-url"),
]


@pytest.mark.parametrize("base_model", BAD_MODELS)
@pytest.mark.parametrize("shape", ["A", "B"])
def test_base_models_outside_the_data_volume_are_refused(
    alice: Account, cluster: Cluster, shape: str, base_model: str
) -> None:
    dataset = alice.dataset()
    if shape == "A":
        body, field = shape_a(dataset, config={"baseModel": base_model}), "config.baseModel"
    else:
        body, field = shape_b(dataset), "modelConfig.baseModel"
        body["modelConfig"]["baseModel"] = base_model
    assert_refused(alice.api.post("/v2/training/jobs", json=body), field)
    assert_nothing_created(alice, cluster, datasets=1)


@pytest.mark.parametrize(
    "base_model",
    ["meta-llama/Llama-2-7b-hf", "gpt2", "/datasets/models/tiny-llama"],
    ids=["hub", "bare", "path"],
)
def test_hub_ids_and_volume_paths_are_accepted_as_base_models(alice: Account, base_model: str) -> None:
    response = alice.api.post(
        "/v2/training/jobs", json=shape_a(alice.dataset(), config={"baseModel": base_model})
    )
    assert response.status_code == 201, response.text


def test_vision_weights_outside_the_data_volume_are_refused(alice: Account, cluster: Cluster) -> None:
    body = shape_a(alice.dataset(), modelType="vision", config={"weights": "/etc/passwd"})
    assert_refused(alice.api.post("/v2/training/jobs", json=body), "config.weights")
    assert_nothing_created(alice, cluster, datasets=1)


@pytest.mark.parametrize(
    "url", [TRAVERSAL, "/etc/passwd", "s3://b/d.jsonl"], ids=["dot-dot", "host", "s3-bucket-too-short"]
)
def test_compact_dataset_urls_outside_the_data_volume_are_refused(
    alice: Account, cluster: Cluster, url: str
) -> None:
    body = shape_b("", datasetConfig={"datasetUrl": url, "format": "jsonl"})
    assert_refused(alice.api.post("/v2/training/jobs", json=body), "datasetConfig.datasetUrl")
    assert_nothing_created(alice, cluster)


# ---- numbers, names, JSON ----------------------------------------------------------------------------------


def _llm(**training: Any) -> dict[str, Any]:
    return {"baseModel": "gpt2", "training": training}


BAD_FIELDS = [
    ("epochs-10e30", "A", {"config": _llm(epochs=10**30)}, "config.training.epochs"),
    ("epochs-above-max", "A", {"config": _llm(epochs=10_001)}, "config.training.epochs"),
    ("batch-size-above-max", "A", {"config": _llm(batch_size=5000)}, "config.training.batch_size"),
    ("warmup-above-max", "A", {"config": _llm(warmup_steps=10**8)}, "config.training.warmup_steps"),
    ("seed-above-32-bits", "A", {"config": _llm(seed=2**32)}, "config.training.seed"),
    ("accumulation-above-max", "A", {"config": _llm(gradient_accumulation_steps=2048)},
     "config.training.gradient_accumulation_steps"),
    ("save-every-above-max", "A", {"config": _llm(save_every_steps=10**8)}, "config.training.save_every_steps"),
    ("weight-decay-above-max", "A", {"config": _llm(weight_decay=11.0)}, "config.training.weight_decay"),
    ("alpha-above-max", "A", {"config": {"baseModel": "gpt2", "parameters": {"alpha": 1e6}}},
     "config.parameters.alpha"),
    ("grad-norm-above-max", "A", {"config": {"baseModel": "gpt2", "optimization": {"max_grad_norm": 1e9}}},
     "config.optimization.max_grad_norm"),
    ("too-many-target-modules", "A",
     {"config": {"baseModel": "gpt2", "parameters": {"target_modules": ["q"] * 65}}},
     "config.parameters.target_modules"),
    ("classes-above-max", "A", {"modelType": "vision", "config": {"num_classes": 10**6}}, "config.num_classes"),
    ("b-epochs-above-max", "B", {"hyperparameters": {"epochs": 10**6}}, "hyperparameters.epochs"),
    ("b-batch-size-above-max", "B", {"hyperparameters": {"batchSize": 10**6}}, "hyperparameters.batchSize"),
    ("b-memory-too-many-digits", "B", {"infrastructure": {"memory": "9" * 20 + "GB"}}, "infrastructure.memory"),
    ("name-rtl-override", "A", {"name": "invoice\u202egpj.exe"}, "name"),
    ("name-nul", "A", {"name": "job\u0000"}, "name"),
    ("name-newline", "A", {"name": "job\nFAKE LOG LINE"}, "name"),
    ("tag-bidi-isolate", "A", {"tags": ["ok", "\u2066evil"]}, "tags[1]"),
    ("tag-escape", "A", {"tags": ["\u001b[31mred"]}, "tags[0]"),
    ("b-name-rtl-override", "B", {"name": "a\u202eb"}, "name"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "change", "field"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_out_of_bounds_fields_are_refused_naming_the_field(
    alice: Account, cluster: Cluster, shape: str, change: dict[str, Any], field: str
) -> None:
    body = (shape_a if shape == "A" else shape_b)(alice.dataset())
    body.update(change)
    assert_refused(alice.api.post("/v2/training/jobs", json=body), field)
    assert_nothing_created(alice, cluster, datasets=1)


def test_dataset_names_refuse_control_and_bidi_characters(alice: Account, cluster: Cluster) -> None:
    for name in ("a\u202eb", "a\u0000b", "a\u2028b"):
        response = alice.api.post(
            "/v2/datasets", json={"name": name, "format": "jsonl", "source": "/datasets/d"}
        )
        body = assert_refused(response, "name")
        assert name not in body["details"]["reason"]
    assert_nothing_created(alice, cluster)


def _raw(dataset: str, config: str) -> str:
    return f'{{"name": "j", "modelType": "llm", "datasetId": "{dataset}", "config": {config}}}'


RAW_BODIES = [
    ("grad-norm-infinity", '{"baseModel": "gpt2", "optimization": {"max_grad_norm": Infinity}}',
     "config.optimization.max_grad_norm"),
    ("learning-rate-nan", '{"baseModel": "gpt2", "training": {"learning_rate": NaN}}',
     "config.training.learning_rate"),
    ("learning-rate-minus-infinity", '{"baseModel": "gpt2", "training": {"learning_rate": -Infinity}}',
     "config.training.learning_rate"),
    ("float-overflowing-to-infinity", '{"baseModel": "gpt2", "training": {"weight_decay": 1e999}}',
     "config.training.weight_decay"),
    ("duplicate-key", '{"baseModel": "gpt2", "training": {"epochs": 1, "epochs": 2}}',
     "config.training.epochs"),
    ("nested-20000-deep", '{"baseModel": "gpt2", "x": ' + "[" * 20_000 + "]" * 20_000 + "}", "body"),
    ("too-many-keys", json.dumps({"baseModel": "gpt2", **{f"k{i}": i for i in range(1_001)}}), "body"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "field"), [c[1:] for c in RAW_BODIES], ids=[c[0] for c in RAW_BODIES])
def test_json_that_is_not_strict_or_past_the_limits_is_refused(
    alice: Account, cluster: Cluster, config: str, field: str
) -> None:
    response = alice.api.post(
        "/v2/training/jobs",
        content=_raw(alice.dataset(), config),
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, field)
    assert_nothing_created(alice, cluster, datasets=1)


def test_strict_json_applies_to_every_endpoint(alice: Account, cluster: Cluster) -> None:
    response = alice.api.post(
        "/v2/datasets",
        content='{"name": "a", "name": "b", "format": "jsonl", "source": "/datasets/d"}',
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, "name")
    assert "training" not in response.json()["message"]  # a dataset's request, not a training configuration
    assert_nothing_created(alice, cluster)


@pytest.mark.parametrize(
    ("query", "field"),
    [("offset=10000001", "offset"), ("limit=" + "9" * 30, "limit")],
    ids=["offset", "limit"],
)
def test_list_queries_are_bounded(alice: Account, query: str, field: str) -> None:
    for path in ("/v2/training/jobs", "/v2/datasets"):
        assert_refused(alice.api.get(f"{path}?{query}"), field)


# ---- bodies and rates --------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_bodies_are_413_with_the_error_body(
    alice: Account, cluster: Cluster, facade: RunningFacade, chunked: bool
) -> None:
    limit = facade.settings.max_body_bytes
    body = json.dumps(shape_a(alice.dataset(), description="x" * (limit + 1))).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    content: Any = chunks() if chunked else body
    response = alice.api.post(
        "/v2/training/jobs", content=content, headers={"Content-Type": "application/json"}
    )
    refused = assert_refused(response, "body", status=413)
    assert refused["error"] == "PAYLOAD_TOO_LARGE"
    assert refused["details"]["limit"] == limit
    assert_nothing_created(alice, cluster, datasets=1)


@pytest.fixture
def guarded_facade(cluster_sandbox: RunningSandbox) -> Iterator[RunningFacade]:
    with running_facade(
        str(cluster_sandbox.kubeconfig_path),
        auth_failure_rate_per_second=0.1,
        auth_failure_burst=5,
        client_rate_limit_per_second=0.5,
        client_rate_limit_burst=40,
    ) as running:
        yield running


def test_clients_guessing_keys_are_rate_limited_before_authentication(guarded_facade: RunningFacade) -> None:
    account = new_account(guarded_facade, "victim")
    url = f"{guarded_facade.url}/v2/training/jobs"
    answers = [httpx.get(url, headers={"Authorization": f"Bearer t1_guess-{i}"}) for i in range(12)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["error"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) == limited.json()["details"]["retryAfter"] >= 1
    # Even the right key is not looked at from this client until its failures have drained, nor is a body read.
    assert account.api.get("/v2/training/jobs").status_code == 429
    assert account.api.post("/v2/training/jobs", content=b"{not json").status_code == 429
    assert httpx.get(f"{guarded_facade.url}/healthz").status_code == 200  # probes are not limited


def test_one_client_is_rate_limited_across_keys(guarded_facade: RunningFacade) -> None:
    keys = [new_account(guarded_facade, f"many-{i}") for i in range(3)]
    statuses = [keys[i % 3].api.get("/v2/datasets").status_code for i in range(45)]
    assert statuses[:40] == [200] * 40
    assert statuses[-1] == 429
