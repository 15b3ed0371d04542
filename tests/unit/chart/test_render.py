"""The chart lints, renders and produces objects every supported Kubernetes version accepts, for each setting."""

from __future__ import annotations

import json
import re
from typing import Any

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
        f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port['port']}{REPORTS_PATH}"
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
