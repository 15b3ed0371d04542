"""Settings a platform team is likely to install with; every test that renders the chart runs over all of them."""

from __future__ import annotations

from typing import Any

import pytest

SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "minimal": {
        "crds": {"install": False},
        "priorityClasses": {"create": False},
        "facade": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "apiKeys": {"admin": {"create": False}},
    },
    "everything-on": {
        "commonLabels": {"team": "ml-platform"},
        "imagePullSecrets": [{"name": "registry"}],
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
            "grafanaDashboard": {"enabled": True},
        },
        "facade": {
            "replicas": 3,
            "service": {"type": "LoadBalancer"},
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                "hosts": [{"host": "train.corp.example", "paths": [{"path": "/", "pathType": "Prefix"}]}],
                "tls": [{"secretName": "train-tls", "hosts": ["train.corp.example"]}],
            },
            "extraEnv": [{"name": "TENSORONE_FACADE_MAX_BODY_BYTES", "value": "2097152"}],
            "nodeSelector": {"node-role/control": "true"},
        },
        "networkPolicy": {
            "apiFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
            ],
            "metricsFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
            ],
        },
        "operator": {
            "defaults": {
                "checkpointStorageClass": "fast-ssd",
                "checkpointSize": "200Gi",
                "datasetVolumeClaim": "datasets",
                "stallWindowSeconds": 1200,
            },
            "priorityClassName": "system-cluster-critical",
        },
        "priorityClasses": {"high": {"name": "ml-high", "value": 500000}},
        "catalog": {"gpus": {"h100": {"pricePerHour": 3.25}}},
        "apiKeys": {"admin": {"sha256": "ab" * 32, "account": "platform"}},
    },
    "single-namespace-operator": {
        "operator": {"watchNamespace": "ml-jobs"},
        "facade": {"replicas": 1, "namespaceTemplate": "ml-{account}"},
    },
    "renamed": {"fullnameOverride": "training", "image": {"tag": "1.2.3"}},
    "report-tls-from-cert-manager": {"operator": {"reportTls": {"existingSecret": "operator-reports-tls"}}},
    "report-endpoint-plain-http": {"operator": {"reportTls": {"enabled": False}}},
}

settings_params = pytest.mark.parametrize("values", list(SETTINGS.values()), ids=list(SETTINGS.keys()))

_WITH_FACADE = {k: v for k, v in SETTINGS.items() if v.get("facade", {}).get("enabled", True)}
facade_settings_params = pytest.mark.parametrize(
    "values", list(_WITH_FACADE.values()), ids=list(_WITH_FACADE.keys())
)
