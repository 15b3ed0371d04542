"""Worker pods and their support objects, built without a server."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tensorone.api import names
from tensorone.api.dataset import DatasetFormat, DatasetSpec
from tensorone.api.reporting import (
    REPORT_AUDIENCE,
    REPORT_CA_ENV,
    REPORT_TOKEN_DIR,
    REPORT_TOKEN_ENV,
    REPORT_URL_ENV,
    relay_url,
)
from tensorone.api.sources import HUB_CACHE_DIR, SOURCES_DIR, local_dataset_path
from tensorone.api.trainer_config import RUN_CONFIG_ENV
from tensorone.controller.builders import (
    JobContext,
    build_checkpoint_claim,
    build_config_map,
    build_initializer_pod,
    build_run_config,
    build_support_objects,
    build_worker_pod,
    build_worker_pods,
    needs_initializer,
)
from tensorone.controller.settings import OperatorSettings, SettingsError
from tests.unit.controller.conftest import make_context, make_spec


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container(pod)["env"]}


def test_every_child_but_the_checkpoints_is_owned_by_the_job_so_deleting_the_job_removes_it(
    ctx: JobContext,
) -> None:
    ctx = make_context(make_spec(maxWorkers=2))
    children = [*build_support_objects(ctx), *build_worker_pods(ctx, attempt=1, resume_from=None)]
    assert {c["kind"] for c in children} == {
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "Pod",
    }
    (claim,) = [c for c in children if c["kind"] == "PersistentVolumeClaim"]
    assert "ownerReferences" not in claim["metadata"]  # checkpoints outlive the job unless purged
    for child in children:
        if child is claim:
            continue
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "TrainingJob",
            ctx.name,
            "uid-1",
            True,
        )


@pytest.mark.parametrize(
    ("workers", "index", "expected"),
    [
        (1, 0, ["--nnodes=1", "--node-rank=0", "--nproc-per-node=4", "--standalone"]),
        (
            3,
            2,
            [
                "--nnodes=3",
                "--node-rank=2",
                "--nproc-per-node=4",
                "--master-addr=worker-0.job-0123456789abcdef-workers.team-a.svc",
                "--master-port=29500",
            ],
        ),
    ],
    ids=["single-worker-standalone", "third-of-three-rendezvous-on-worker-0"],
)
def test_workers_run_torchrun_with_their_rank_and_one_process_per_gpu(
    workers: int, index: int, expected: list[str]
) -> None:
    ctx = make_context(make_spec(maxWorkers=workers, gpusPerWorker=4))
    command = _container(build_worker_pod(ctx, index, attempt=1, resume_from=None))["command"]
    assert command[:3] == ["python", "-m", "tensorone_trainer.launch"]  # torchrun, stopping gracefully
    assert all(flag in command for flag in expected)
    assert "--max-restarts=0" in command
    trainer = len(command) - command[::-1].index("-m")
    assert command[trainer : trainer + 2] == ["tensorone_trainer", "run"]


def test_worker_requests_gpus_and_memory_and_lands_on_the_gpu_product() -> None:
    ctx = make_context(make_spec(gpusPerWorker=2, resources={"memory": "64Gi"}, priority="high"))
    pod = build_worker_pod(ctx, 0, attempt=1, resume_from=None)
    resources = _container(pod)["resources"]
    assert resources["requests"] == {"nvidia.com/gpu": "2", "memory": "64Gi"}
    assert resources["limits"] == {"nvidia.com/gpu": "2", "memory": "64Gi"}
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod["spec"]["priorityClassName"] == "tensorone-high"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert (pod["spec"]["hostname"], "subdomain" in pod["spec"]) == (
        "worker-0",
        False,
    )  # one worker: standalone


@pytest.mark.parametrize("workers", [1, 2])
def test_only_several_workers_get_the_headless_service_that_names_worker_0(workers: int) -> None:
    ctx = make_context(make_spec(maxWorkers=workers))
    services = [m for m in build_support_objects(ctx) if m["kind"] == "Service"]
    pod = build_worker_pod(ctx, 0, attempt=1, resume_from=None)
    if workers == 1:
        assert services == []
        assert "subdomain" not in pod["spec"]
    else:
        assert [s["metadata"]["name"] for s in services] == ["job-0123456789abcdef-workers"]
        assert pod["spec"]["subdomain"] == "job-0123456789abcdef-workers"


def test_worker_gets_the_config_path_grace_period_and_checkpoint_to_resume() -> None:
    ctx = make_context(termination_grace_period_seconds=45)
    pod = build_worker_pod(ctx, 0, attempt=3, resume_from="ckpt_step_120")
    env = _env(pod)
    assert env[RUN_CONFIG_ENV] == "/etc/tensorone/job.json"
    assert env["TENSORONE_ATTEMPT"] == "3"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45
    command = _container(pod)["command"]
    assert command[command.index("--resume-from") + 1] == "ckpt_step_120"
    assert command[command.index("--checkpoint-dir") + 1] == "/checkpoints/team-a/job-0123456789abcdef"
    assert pod["metadata"]["labels"]["training.tensorone.ai/attempt"] == "3"


def test_a_configured_trainer_command_replaces_torchrun_and_the_image_comes_from_settings() -> None:
    ctx = make_context(trainer_command=["python", "-c", "pass"], trainer_image="registry.local/trainer:9")
    container = _container(build_worker_pod(ctx, 0, attempt=1, resume_from=None))
    assert container["image"] == "registry.local/trainer:9"
    assert container["command"][:3] == ["python", "-c", "pass"]
    assert "torchrun" not in container["command"]


@pytest.mark.parametrize(
    ("workers", "storage", "storage_class", "expected_mode", "expected_size"),
    [(1, None, None, "ReadWriteOnce", "50Gi"), (4, "200Gi", "nfs", "ReadWriteMany", "200Gi")],
    ids=["one-worker-rwo-default-size", "many-workers-rwx-spec-size"],
)
def test_checkpoint_claim_is_shared_by_workers_and_sized_from_the_spec(
    workers: int, storage: str | None, storage_class: str | None, expected_mode: str, expected_size: str
) -> None:
    resources = {"storage": storage} if storage else {}
    ctx = make_context(
        make_spec(maxWorkers=workers, resources=resources), checkpoint_storage_class=storage_class
    )
    claim = build_checkpoint_claim(ctx)
    assert claim["spec"]["accessModes"] == [expected_mode]
    assert claim["spec"]["resources"]["requests"]["storage"] == expected_size
    assert claim["spec"].get("storageClassName") == storage_class


def test_workers_hold_no_api_credential_and_only_the_relay_holds_the_reporting_token(ctx: JobContext) -> None:
    ctx = make_context(make_spec(), report_url="http://operator.tensorone-system.svc:8082/v1/reports")
    pod = build_worker_pod(ctx, 0, attempt=1, resume_from=None)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec  # the namespace's default account: no per-job RBAC
    projected = [v for v in spec["volumes"] if "projected" in v]
    (volume,) = projected
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == REPORT_AUDIENCE
    trainer, relay = spec["containers"]
    assert (trainer["name"], relay["name"]) == (names.TRAINER_CONTAINER, names.REPORT_RELAY_CONTAINER)
    # The trainer container (user code) mounts no token of any kind and reports to the relay on the loopback.
    assert not [m for m in trainer["volumeMounts"] if m["name"] == volume["name"]]
    assert not [m for m in trainer["volumeMounts"] if m["mountPath"].startswith("/var/run/secrets")]
    env = _env(pod)
    assert env[REPORT_URL_ENV] == relay_url()
    assert REPORT_TOKEN_ENV not in env
    # The relay alone mounts it, read-only, runs as another uid than the trainer, and forwards to the operator.
    (mount,) = relay["volumeMounts"]
    assert (mount["name"], mount["mountPath"], mount["readOnly"]) == (volume["name"], REPORT_TOKEN_DIR, True)
    relay_env = {e["name"]: e["value"] for e in relay["env"]}
    assert relay_env[REPORT_URL_ENV] == "http://operator.tensorone-system.svc:8082/v1/reports"
    assert relay_env[REPORT_TOKEN_ENV] == f"{REPORT_TOKEN_DIR}/{source['serviceAccountToken']['path']}"
    assert relay["securityContext"]["runAsUser"] != spec["securityContext"]["runAsUser"]
    assert relay["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "nvidia.com/gpu" not in str(relay.get("resources"))
    assert (
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == names.TRAINER_CONTAINER
    )


def test_the_relay_is_given_the_ca_that_signed_the_report_endpoints_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    url = "https://operator.tensorone-system.svc:8082/v1/reports"
    ctx = dataclasses.replace(
        make_context(make_spec(), report_url=url, report_ca_file=str(ca)),
        settings=OperatorSettings(report_url=url, report_ca_file=str(ca)).with_files_read(),
    )
    pod = build_worker_pod(ctx, 0, 1, None)
    relay = pod["spec"]["containers"][1]
    assert {e["name"]: e["value"] for e in relay["env"]}[REPORT_CA_ENV] == ca.read_text()
    assert REPORT_CA_ENV not in _env(pod)  # the trainer reports to the relay on the loopback: no TLS there
    # Without a CA file an https endpoint is verified against the system's trust store: no CA in the pod.
    pod = build_worker_pod(make_context(make_spec(), report_url=url), 0, 1, None)
    assert REPORT_CA_ENV not in {e["name"] for e in pod["spec"]["containers"][1]["env"]}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"report_tls_cert_file": "/tls/tls.crt"}, "reportTlsKeyFile"),
        (
            {
                "report_url": "http://o:8082/v1/reports",
                "report_tls_cert_file": "/c",
                "report_tls_key_file": "/k",
            },
            "reportUrl",
        ),
        ({"report_url": "https://o:8082/v1/reports", "report_ca_file": "/nowhere/ca.crt"}, "reportCaFile"),
        (
            {
                "report_url": "https://o:8082/v1/reports",
                "report_ca_file": str(Path(__file__).parents[3] / "pyproject.toml"),
            },
            "reportCaFile",
        ),
    ],
    ids=["cert-without-key", "tls-with-plain-http-url", "unreadable-ca", "no-pem-in-ca"],
)
def test_report_tls_settings_that_do_not_fit_fail_the_start_naming_the_key(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises((ValidationError, SettingsError), match=named):
        OperatorSettings(**settings).with_files_read()


def test_without_a_report_url_workers_get_no_token_and_no_relay(ctx: JobContext) -> None:
    pod = build_worker_pod(ctx, 0, attempt=1, resume_from=None)
    assert [c["name"] for c in pod["spec"]["containers"]] == [names.TRAINER_CONTAINER]
    assert not [v for v in pod["spec"]["volumes"] if "projected" in v]
    assert REPORT_URL_ENV not in _env(pod)


def test_run_config_tells_the_trainer_the_dataset_and_where_to_report(ctx: JobContext) -> None:
    config = json.loads(build_config_map(ctx)["data"]["job.json"])
    assert config["dataset"] == {"path": "/datasets/train.jsonl", "format": "jsonl"}
    assert config["statusTarget"] == {"namespace": "team-a", "name": ctx.name}
    assert config["jobId"] == "job_0123456789abcdef"
    assert config["modelType"] == "custom"


def _arguments(pod: dict[str, Any]) -> dict[str, str]:
    (container,) = pod["spec"]["containers"]
    argv = container["command"]
    start = argv.index("--data-root")
    return dict(zip(argv[start::2], argv[start + 1 :: 2], strict=True))


def test_the_initializer_checks_a_volume_dataset_read_only_without_gpu_or_credentials() -> None:
    ctx = make_context(
        make_spec(modelType="llm", config={"baseModel": "/datasets/models/tiny"}),
        datasetVolumeClaim="datasets",
    )
    assert needs_initializer(ctx.spec, ctx.dataset, ctx.settings)
    pod = build_initializer_pod(ctx)
    assert pod["metadata"]["name"] == names.data_check_pod_name(ctx.name)
    assert pod["metadata"]["labels"][names.COMPONENT_LABEL] == names.DATA_CHECK_COMPONENT
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert "resources" not in container  # no GPU
    assert "envFrom" not in container  # nothing to fetch: no source credentials
    assert _arguments(pod) == {
        "--data-root": "/datasets",
        "--dataset": "/datasets/train.jsonl",
        "--format": "jsonl",
    }
    assert [v["persistentVolumeClaim"] for v in spec["volumes"]] == [
        {"claimName": "datasets", "readOnly": True}
    ]
    assert all(m["readOnly"] for m in container["volumeMounts"])
    custom = make_context(datasetVolumeClaim="datasets")
    assert not needs_initializer(
        custom.spec, custom.dataset, custom.settings
    )  # custom code reads its own way


def test_the_initializer_fetches_urls_and_hub_models_with_the_credentials_secret() -> None:
    ctx = make_context(
        make_spec(modelType="llm", config={"baseModel": "org/tiny-model"}), datasetVolumeClaim="datasets"
    )
    source = DatasetSpec(display_name="d", format=DatasetFormat.JSONL, source="s3://bucket/text/train.jsonl")
    ctx = dataclasses.replace(ctx, dataset=source)
    pod = build_initializer_pod(ctx)
    (container,) = pod["spec"]["containers"]
    assert _arguments(pod) == {
        "--data-root": "/datasets", "--dataset": "s3://bucket/text/train.jsonl", "--model": "org/tiny-model",
        "--format": "jsonl",
    }  # fmt: skip
    # The cache on the data volume is written by the initializer only; workers keep a read-only mount.
    assert [v["persistentVolumeClaim"]["readOnly"] for v in pod["spec"]["volumes"]] == [False]
    assert container["envFrom"] == [
        {"secretRef": {"name": ctx.settings.source_credentials_secret, "optional": True}}
    ]
    worker = build_worker_pods(ctx, 1, None)[0]
    (trainer,) = worker["spec"]["containers"]
    assert "envFrom" not in trainer  # workers run user code: never the source credentials
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert env["HF_HUB_CACHE"] == HUB_CACHE_DIR
    assert env["HF_HUB_OFFLINE"] == "1"
    config = build_run_config(ctx).to_wire()
    assert config["dataset"]["path"] == local_dataset_path("s3://bucket/text/train.jsonl")
    assert config["dataset"]["path"].startswith(f"{SOURCES_DIR}/")
