"""Every piece `make e2e` (tests/e2e/run.sh, kind) uses is checked here, since kind cannot run on these machines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import helm_python as helm
import yaml

from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.rest import CreateDatasetRequest
from tensorone.api.translate import plan_create
from tensorone.catalog import load_catalog
from tests.unit.chart.rendering import (
    CHART_DIR,
    KUBERNETES_VERSIONS,
    REPO,
    find,
    load_chart,
    render,
    schema_errors,
)

E2E = REPO / "tests" / "e2e"
RUN_SH = (E2E / "run.sh").read_text()
KIND_VALUES: dict[str, Any] = yaml.safe_load((E2E / "values-kind.yaml").read_text())


def _shell_var(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)", RUN_SH, re.MULTILINE)
    assert match, f"{name}= not found in run.sh"
    return match.group(1)


def test_run_sh_is_valid_bash() -> None:
    bash = shutil.which("bash")
    assert bash
    subprocess.run([bash, "-n", str(E2E / "run.sh")], check=True)


def test_kind_values_pass_the_schema_lint_and_kubernetes_validation() -> None:
    load_chart().validate_schema(KIND_VALUES)
    report = helm.lint(CHART_DIR, KIND_VALUES, strict=True)
    assert report["errors"] == []
    documents = render(KIND_VALUES, namespace=_shell_var("SYSTEM_NS"))
    assert [e for d in documents for v in KUBERNETES_VERSIONS for e in schema_errors(d, v)] == []


def test_run_sh_reads_the_secret_and_service_the_chart_creates() -> None:
    release = _shell_var("RELEASE")
    documents = render(KIND_VALUES, namespace=_shell_var("SYSTEM_NS"), release=release)
    secret = f"{release}-tensorone-training-admin-api-key"
    service = f"{release}-tensorone-training-api"
    assert '"$RELEASE-tensorone-training-admin-api-key"' in RUN_SH
    assert '"svc/$RELEASE-tensorone-training-api"' in RUN_SH
    assert "api-key" in find(documents, "Secret", f"^{secret}$")[0]["data"]
    assert find(documents, "Service", f"^{service}$")[0]["spec"]["ports"][0]["port"] == 80
    account_ns = _shell_var("ACCOUNT_NS")
    assert (
        KIND_VALUES.get("facade", {}).get("namespaceTemplate", "tensorone-{account}").format(account="admin")
        == account_ns
    )


def test_kind_node_label_is_a_product_of_the_jobs_gpu_type() -> None:
    kind_config = yaml.safe_load((E2E / "kind-config.yaml").read_text())
    product = kind_config["nodes"][0]["labels"]["nvidia.com/gpu.product"]
    job = json.loads((E2E / "job-request.json").read_text())
    assert load_catalog().type_of_product(product) == job["gpuType"]


def test_seed_manifests_are_valid_and_write_what_the_job_reads() -> None:
    documents = list(yaml.safe_load_all((E2E / "seed-dataset.yaml").read_text()))
    for version in KUBERNETES_VERSIONS:
        assert [e for d in documents for e in schema_errors(d, version)] == []
    claim = next(d for d in documents if d["kind"] == "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == KIND_VALUES["operator"]["defaults"]["datasetVolumeClaim"]
    pod = next(d for d in documents if d["kind"] == "Pod")
    container = pod["spec"]["containers"][0]
    assert container["image"] == KIND_VALUES["operator"]["defaults"]["trainerImage"]
    script = container["command"][-1]
    mount = DATA_VOLUME_MOUNT_PATH
    assert container["volumeMounts"][0]["mountPath"] == mount
    dataset = json.loads((E2E / "dataset-request.json").read_text())
    job = json.loads((E2E / "job-request.json").read_text())
    assert dataset["source"] == f"{mount}/instructions.jsonl"
    assert '"instructions.jsonl"' in script
    assert job["config"]["baseModel"] == f"{mount}/tiny-llama"
    assert '"tiny-llama"' in script


def test_rest_requests_of_the_e2e_job_are_accepted_by_the_api() -> None:
    CreateDatasetRequest.model_validate_json((E2E / "dataset-request.json").read_text())
    body = json.loads((E2E / "job-request.json").read_text().replace("__DATASET_ID__", "ds_0123456789abcdef"))
    plan = plan_create(body)
    assert plan is not None
