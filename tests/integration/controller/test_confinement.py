"""Objects made with kubectl: the CRD refuses paths outside the data volume and unbounded numbers, and where a
cluster still serves an older CRD without those rules (``helm upgrade`` never updates CRDs), admission refuses the
job naming the field, and no worker is created."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.controller.conftest import DATASETS, JOBS, Cluster

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TRAVERSAL = "/datasets/../../tensorone-default/datasets/secret.jsonl"


def _dataset(name: str, source: str) -> dict[str, Any]:
    return {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {"displayName": name, "format": "jsonl", "source": source},
    }


def _llm_job(name: str, dataset: str = "ds-1", **config: Any) -> dict[str, Any]:
    return {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "modelType": "llm",
            "datasetRef": {"name": dataset},
            "gpuType": "a100",
            "config": {"baseModel": "gpt2", **config},
        },
    }


def _strip(node: Any, keys: set[str]) -> Any:
    """A schema without the given keywords anywhere (an older CRD that did not state them)."""
    if isinstance(node, dict):
        return {k: _strip(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_strip(item, keys) for item in node]
    return node


def _serve_older_crds(cluster: Cluster) -> None:
    for plural in ("datasets", "trainingjobs"):
        path = f"{CRDS}/{plural}.training.tensorone.ai"
        crd = cluster.http.get(path).json()
        version = crd["spec"]["versions"][0]
        version["schema"] = _strip(version["schema"], {"pattern", "maximum", "maxItems"})
        response = cluster.http.put(path, json=crd)
        assert response.status_code == 200, response.text


KUBECTL_REFUSALS = [
    pytest.param(DATASETS, _dataset("ds-x", TRAVERSAL), "spec.source", id="dataset-dot-dot"),
    pytest.param(DATASETS, _dataset("ds-x", "/etc/passwd"), "spec.source", id="dataset-host-path"),
    pytest.param(DATASETS, _dataset("ds-x", "file:///etc/passwd"), "spec.source", id="dataset-file-url"),
    pytest.param(JOBS, _llm_job("job-x", baseModel="/etc/passwd"), "spec.config.baseModel", id="model-host-path"),
    pytest.param(JOBS, _llm_job("job-x", training={"epochs": 10**15}), "spec.config.training.epochs",
                 id="epochs-unbounded"),
    pytest.param(JOBS, {**_llm_job("job-x"), "spec": {**_llm_job("job-x")["spec"], "displayName": "a\u202eb"}},
                 "spec.displayName", id="name-with-rtl-override"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "field"), KUBECTL_REFUSALS)
def test_the_crd_refuses_what_the_models_refuse(
    cluster: Cluster, path: str, body: dict[str, Any], field: str
) -> None:
    response = cluster.http.post(path, json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    assert cluster.http.get(f"{path}/{body['metadata']['name']}").status_code == 404


ADMISSION_REFUSALS = [
    pytest.param(_dataset("ds-x", TRAVERSAL), _llm_job("job-x", dataset="ds-x"), "InvalidDataset", "spec.source",
                 id="dataset-dot-dot"),
    pytest.param(_dataset("ds-x", "/root/"), _llm_job("job-x", dataset="ds-x"), "InvalidDataset", "spec.source",
                 id="dataset-host-path"),
    pytest.param(None, _llm_job("job-x", baseModel="/datasets/../../other/checkpoints"), "InvalidSpec",
                 "spec.config.baseModel", id="model-dot-dot"),
    pytest.param(None, _llm_job("job-x", training={"epochs": 10**15}), "InvalidSpec",
                 "spec.config.training.epochs", id="epochs-unbounded"),
]  # fmt: skip


@pytest.mark.parametrize(("dataset", "job", "reason", "field"), ADMISSION_REFUSALS)
def test_admission_refuses_what_an_older_crd_let_in(
    cluster: Cluster, dataset: dict[str, Any] | None, job: dict[str, Any], reason: str, field: str
) -> None:
    _serve_older_crds(cluster)
    if dataset is not None:
        assert cluster.http.post(DATASETS, json=dataset).status_code == 201
    # A real API server serves a changed CRD schema a moment after the update: wait until it lets the job in.
    cluster.wait(
        "the older CRD to be served",
        lambda: cluster.http.post(JOBS, json=job, params={"dryRun": "All"}).status_code == 201,
    )
    assert cluster.http.post(JOBS, json=job).status_code == 201
    cluster.start_operator()
    refused = cluster.wait_phase("job-x", "failed")
    admitted = next(c for c in refused["status"]["conditions"] if c["type"] == "Admitted")
    assert (admitted["status"], admitted["reason"]) == ("False", reason)
    assert field in admitted["message"]
    assert cluster.pods("job-x") == []
    config_maps = cluster.http.get("/api/v1/namespaces/default/configmaps").json()["items"]
    assert not [c for c in config_maps if c["metadata"]["name"].startswith("job-x")]
