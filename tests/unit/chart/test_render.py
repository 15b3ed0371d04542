"""The chart lints, renders and produces objects every supported Kubernetes version accepts, for each setting."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import yaml

from tensorone.api.reporting import REPORTS_PATH
from tests.unit.chart.matrix import settings_params
from tests.unit.chart.rendering import (
    CHART_DIR,
    KUBERNETES_VERSIONS,
    NAMESPACE,
    find,
    is_third_party,
    one,
    render,
    render_files,
    schema_errors,
)


@settings_params
def test_chart_lints_without_warnings(values: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == []
    assert problems == []


@settings_params
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_for_kubernetes(values: dict[str, Any], version: str) -> None:
    documents = render(values)
    errors = [e for d in documents if not is_third_party(d) for e in schema_errors(d, version)]
    assert errors == []


@settings_params
def test_namespaced_objects_have_unique_names_and_labels(values: dict[str, Any]) -> None:
    documents = render(values)
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents]
    assert len(keys) == len(set(keys))
    for d in documents:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tensorone-training", d["metadata"][
            "name"
        ]


@settings_params
def test_workloads_run_non_root_with_read_only_root_and_no_capabilities(values: dict[str, Any]) -> None:
    deployments = find(render(values), "Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert container["livenessProbe"]
            assert container["readinessProbe"]


def test_operator_is_a_single_replica_replaced_with_recreate() -> None:
    deployment = find(render(), "Deployment", "operator$")[0]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_changing_a_price_rolls_the_pods_that_read_it() -> None:
    def checksums(values: dict[str, Any]) -> list[str]:
        return [
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in find(render(values), "Deployment")
        ]

    before = checksums({})
    after = checksums({"catalog": {"gpus": {"a100": {"pricePerHour": 9.99}}}})
    assert len(before) == 2
    assert all(a != b for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize(
    ("values", "present"),
    [
        ({}, False),
        ({"facade": {"ingress": {"enabled": True}}}, True),
    ],
    ids=["default-no-ingress", "ingress-enabled"],
)
def test_ingress_routes_to_the_api_service_only_when_enabled(values: dict[str, Any], present: bool) -> None:
    documents = render(values)
    ingresses = find(documents, "Ingress")
    assert bool(ingresses) == present
    if present:
        backend = ingresses[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        service = find(documents, "Service", "-api$")[0]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}


@pytest.mark.parametrize(
    ("replicas", "has_pdb"), [(1, False), (2, True), (3, True)], ids=["one-replica", "two", "three"]
)
def test_facade_pdb_only_when_a_drain_can_keep_a_replica(replicas: int, has_pdb: bool) -> None:
    documents = render({"facade": {"replicas": replicas}})
    assert bool(find(documents, "PodDisruptionBudget")) == has_pdb
    assert not find(documents, "PodDisruptionBudget", "operator")


def test_network_policies_open_only_the_api_metrics_and_report_ports() -> None:
    policies = {p["metadata"]["name"]: p for p in find(render(), "NetworkPolicy")}
    ports = {
        name: [p["port"] for rule in p["spec"]["ingress"] for p in rule["ports"]]
        for name, p in policies.items()
    }
    assert ports == {
        "t1-tensorone-training-operator": ["metrics", "reports"],
        "t1-tensorone-training-facade": ["http"],
    }


def test_priority_classes_are_optional_and_named_by_values() -> None:
    names = [
        p["metadata"]["name"]
        for p in find(render({"priorityClasses": {"low": {"name": "batch"}}}), "PriorityClass")
    ]
    assert names == ["tensorone-high", "tensorone-normal", "batch"]
    assert find(render({"priorityClasses": {"create": False}}), "PriorityClass") == []


def test_service_monitor_scrapes_operator_and_facade_metrics() -> None:
    documents = render({"metrics": {"serviceMonitor": {"enabled": True}}})
    monitor = find(documents, "ServiceMonitor")[0]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [s for s in find(documents, "Service") if selector.items() <= s["metadata"]["labels"].items()]
    scraped = {e["port"] for e in monitor["spec"]["endpoints"]}
    exposed = {p["name"] for s in services for p in s["spec"]["ports"]}
    assert scraped == {"metrics", "http"}
    assert scraped <= exposed


def test_notes_tell_how_to_reach_the_api_get_the_key_and_submit_a_job() -> None:
    notes = render_files()["templates/NOTES.txt"]
    assert "port-forward svc/t1-tensorone-training-api" in notes
    assert "get secret t1-tensorone-training-admin-api-key" in notes
    assert "POST $TENSORONE_BASE_URL/v2/training/jobs" in notes


def test_operator_with_one_watched_namespace_gets_a_role_there_and_only_cluster_reads_cluster_wide() -> None:
    documents = render({"operator": {"watchNamespace": "ml-jobs"}})
    role = one(documents, "Role", "-operator$")
    assert role["metadata"]["namespace"] == "ml-jobs"
    cluster_role = one(documents, "ClusterRole", "-operator-cluster$")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "nodes",
        "customresourcedefinitions",
        "tokenreviews",
    }
    writes = [r for r in cluster_role["rules"] if set(r["verbs"]) - {"get", "list", "watch"}]
    assert writes == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}
    ]


def test_workers_reach_the_report_endpoint_through_the_operators_service() -> None:
    documents = render()
    service = one(documents, "Service", "-operator-reports$")
    (port,) = service["spec"]["ports"]
    settings = yaml.safe_load(one(documents, "ConfigMap", "-operator-config$")["data"]["operator.yaml"])
    assert settings["reportUrl"] == (
        f"https://{service['metadata']['name']}.{NAMESPACE}.svc:{port['port']}{REPORTS_PATH}"
    )
    container = one(documents, "Deployment", "-operator$")["spec"]["template"]["spec"]["containers"][0]
    assert f"--report-port={port['port']}" in container["args"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    rules = [r for d in find(documents, "Role") + find(documents, "ClusterRole") for r in d["rules"]]
    granted = {res for r in rules for res in r["resources"]}
    assert not granted & {"serviceaccounts", "roles", "rolebindings"}


def test_facade_reads_api_key_secrets_only_in_the_release_namespace() -> None:
    documents = render()
    secret_rules = [
        (d["kind"], d["metadata"].get("namespace"))
        for d in find(documents, "ClusterRole") + find(documents, "Role")
        for rule in d["rules"]
        if "secrets" in rule["resources"]
    ]
    assert secret_rules == [("Role", NAMESPACE)]


def test_grafana_dashboard_plots_only_metrics_the_operator_and_facade_export() -> None:
    from prometheus_client import CollectorRegistry

    from tensorone.controller.metrics import OperatorMetrics
    from tensorone.facade.metrics import FacadeMetrics

    registries: list[CollectorRegistry] = [OperatorMetrics().registry, FacadeMetrics().registry]
    # Series names Prometheus scrapes for each family (counters gain _total, histograms _bucket/_sum/_count).
    suffixes = ("", "_total", "_bucket", "_sum", "_count")
    exported = {m.name + suffix for r in registries for m in r.collect() for suffix in suffixes}
    config_map = one(render({"metrics": {"grafanaDashboard": {"enabled": True}}}), "ConfigMap", "-dashboard$")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["tensorone-training.json"])
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in expressions for name in re.findall(r"tensorone_[a-z_]+", e)}
    assert len(dashboard["panels"]) >= 6
    assert sorted(used - exported) == []


def _operator_tls(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The operator's settings, and the Secret volume that holds its report certificate (None: none)."""
    settings = yaml.safe_load(one(documents, "ConfigMap", "-operator-config$")["data"]["operator.yaml"])
    pod = one(documents, "Deployment", "-operator$")["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = [v for v in pod["volumes"] if "secret" in v and v["name"] in mounts]
    if not volumes:
        return settings, None
    (volume,) = volumes
    return settings, {**volume["secret"], "mountPath": mounts[volume["name"]]["mountPath"]}


def test_the_report_endpoint_serves_https_with_a_generated_certificate_for_its_service(
    tmp_path: Path,
) -> None:
    documents = render()
    settings, volume = _operator_tls(documents)
    assert volume is not None
    secret = one(documents, "Secret", "-report-tls$")
    assert (secret["type"], volume["secretName"]) == ("kubernetes.io/tls", secret["metadata"]["name"])
    # The operator gets the certificate, its key and the CA that workers verify against, never the CA's key.
    mounted = {item["key"]: f"{volume['mountPath']}/{item['path']}" for item in volume["items"]}
    assert set(mounted) == {"tls.crt", "tls.key", "ca.crt"}
    assert (settings["reportTlsCertFile"], settings["reportTlsKeyFile"], settings["reportCaFile"]) == (
        mounted["tls.crt"],
        mounted["tls.key"],
        mounted["ca.crt"],
    )
    # What a worker's relay checks: the certificate chains to the CA and names the host of reportUrl.
    for key in ("tls.crt", "ca.crt"):
        (tmp_path / key).write_bytes(base64.b64decode(secret["data"][key]))
    host = str(urlsplit(settings["reportUrl"]).hostname)
    checked = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "ca.crt"),
            "-verify_hostname",
            host,
            str(tmp_path / "tls.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    wrong = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "ca.crt"),
            "-verify_hostname",
            "evil.example",
            str(tmp_path / "tls.crt"),
        ],
        capture_output=True,
    )
    assert wrong.returncode != 0


@pytest.mark.parametrize(
    ("report_tls", "secret_name", "ca_file", "scheme"),
    [
        ({"existingSecret": "operator-reports-tls"}, "operator-reports-tls", True, "https"),
        ({"existingSecret": "public-tls", "caFromSecret": False}, "public-tls", False, "https"),
        ({"enabled": False}, None, False, "http"),
    ],
    ids=["cert-manager-secret", "publicly-trusted-secret", "tls-off"],
)
def test_the_report_certificate_can_come_from_another_secret_or_be_off(
    report_tls: dict[str, Any], secret_name: str | None, ca_file: bool, scheme: str
) -> None:
    documents = render({"operator": {"reportTls": report_tls}})
    assert not find(documents, "Secret", "-report-tls$")  # the chart makes none of its own
    settings, volume = _operator_tls(documents)
    assert (volume or {}).get("secretName") == secret_name
    assert urlsplit(settings["reportUrl"]).scheme == scheme
    assert ("reportCaFile" in settings) == ca_file
    assert ("reportTlsCertFile" in settings) == (secret_name is not None)
