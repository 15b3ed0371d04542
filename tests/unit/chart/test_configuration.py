"""What the chart configures is what the operator and the facade read: their own loaders accept it unchanged."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tensorone.api.crd_gen import render_crds
from tensorone.catalog import load_catalog
from tensorone.controller.settings import load_settings
from tensorone.facade.settings import API_KEY_LABEL, ENV_PREFIX, Settings
from tests.unit.chart.matrix import facade_settings_params, settings_params
from tests.unit.chart.rendering import (
    CHART_DIR,
    NAMESPACE,
    REPO,
    Manifest,
    find,
    load_chart,
    one,
    render,
    render_files,
    values_yaml,
)


def _container(documents: list[Manifest], component: str) -> dict[str, Any]:
    deployment = one(documents, "Deployment", f"-{component}$")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _mounted_file(documents: list[Manifest], container: dict[str, Any], path: str, tmp_path: Path) -> Path:
    """Write the ConfigMap key that ``container`` sees at ``path`` into tmp_path and return that file."""
    deployment_volumes = {
        v["name"]: v for d in find(documents, "Deployment") for v in d["spec"]["template"]["spec"]["volumes"]
    }
    for mount in container["volumeMounts"]:
        if path.startswith(mount["mountPath"] + "/"):
            config_map = one(
                documents, "ConfigMap", "^" + deployment_volumes[mount["name"]]["configMap"]["name"] + "$"
            )
            local = tmp_path / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(config_map["data"][path.rsplit("/", 1)[1]])
            return local
    raise AssertionError(f"{path} is not mounted in {container['name']}")


def _flag(container: dict[str, Any], name: str) -> str:
    values = [str(a).split("=", 1)[1] for a in container["args"] if str(a).startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} in {container['args']}"
    return values[0]


def test_default_catalog_values_equal_the_packaged_catalog() -> None:
    packaged = yaml.safe_load((REPO / "operator/tensorone/catalog/defaults.yaml").read_text())
    assert values_yaml()["catalog"] == packaged


@settings_params
def test_operator_reads_the_rendered_settings_and_catalog(values: dict[str, Any], tmp_path: Path) -> None:
    documents = render(values)
    container = _container(documents, "operator")
    settings = load_settings(_mounted_file(documents, container, _flag(container, "config"), tmp_path))
    catalog_path = _env(container)["TENSORONE_CONFIG"]
    assert settings.pricing_config == catalog_path
    catalog = load_catalog(_mounted_file(documents, container, catalog_path, tmp_path))
    merged = load_chart().merge_values(values)
    assert {t.value: g.price_per_hour for t, g in catalog.gpus.items()} == {
        t: g["pricePerHour"] for t, g in merged["catalog"]["gpus"].items()
    }
    assert settings.trainer_image == merged["operator"]["defaults"]["trainerImage"]
    assert settings.checkpoint_size == merged["operator"]["defaults"]["checkpointSize"]
    assert settings.checkpoint_storage_class == (
        merged["operator"]["defaults"]["checkpointStorageClass"] or None
    )
    assert {p.value: n for p, n in settings.priority_class_names.items()} == {
        level: merged["priorityClasses"][level]["name"] for level in ("high", "normal", "low")
    }


def test_price_set_in_values_is_the_price_the_operator_charges(tmp_path: Path) -> None:
    documents = render({"catalog": {"gpus": {"a100": {"pricePerHour": 1.75}}}})
    container = _container(documents, "operator")
    catalog = load_catalog(_mounted_file(documents, container, _env(container)["TENSORONE_CONFIG"], tmp_path))
    assert catalog.gpu("a100").price_per_hour == 1.75


def test_empty_storage_class_is_left_to_the_cluster_default(tmp_path: Path) -> None:
    documents = render()
    container = _container(documents, "operator")
    settings = load_settings(_mounted_file(documents, container, _flag(container, "config"), tmp_path))
    assert settings.checkpoint_storage_class is None
    assert settings.dataset_volume_claim is None


def test_extra_operator_settings_reach_the_operator(tmp_path: Path) -> None:
    documents = render({"operator": {"extraSettings": {"resyncSeconds": 5, "checkpointMountPath": "/ckpt"}}})
    container = _container(documents, "operator")
    settings = load_settings(_mounted_file(documents, container, _flag(container, "config"), tmp_path))
    assert (settings.resync_seconds, settings.checkpoint_mount_path) == (5, "/ckpt")


@facade_settings_params
def test_facade_reads_its_settings_from_the_rendered_environment(
    values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = render(values)
    container = _container(documents, "facade")
    env = _env(container)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    merged = load_chart().merge_values(values)
    assert settings.keys_namespace == NAMESPACE
    assert settings.namespace_template == merged["facade"]["namespaceTemplate"]
    assert settings.rate_limit_per_second == merged["facade"]["rateLimitPerSecond"]
    assert settings.catalog_path == env["TENSORONE_CONFIG"]
    # Artifact downloads start their reader pod from the image the workers run (it holds the reader).
    assert settings.reader_image == merged["operator"]["defaults"]["trainerImage"]
    assert load_catalog(_mounted_file(documents, container, env["TENSORONE_CONFIG"], tmp_path)).gpus
    unknown = [
        n
        for n in env
        if n.startswith(ENV_PREFIX) and n[len(ENV_PREFIX) :].lower() not in Settings.model_fields
    ]
    assert unknown == []
    assert _flag(container, "port") == str(merged["facade"]["port"])


def test_facade_can_be_disabled() -> None:
    documents = render({"facade": {"enabled": False}})
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert not [k for k in kinds if "facade" in k[1] or k[1].endswith("-api")]
    assert find(documents, "Deployment", "-operator$")


def _key_secrets(documents: list[Manifest]) -> list[Manifest]:
    return [s for s in find(documents, "Secret") if s["metadata"]["labels"].get(API_KEY_LABEL) == "true"]


def _decoded(secret: Manifest, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def test_generated_admin_key_is_registered_by_its_digest_only() -> None:
    documents = render()
    plaintext = one(documents, "Secret", "admin-api-key$")
    key = _decoded(plaintext, "api-key")
    assert key.startswith("t1_")
    assert len(key) >= 40
    assert plaintext["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert API_KEY_LABEL not in plaintext["metadata"]["labels"]
    [registered] = _key_secrets(documents)
    assert _decoded(registered, "sha256") == hashlib.sha256(key.encode()).hexdigest()
    assert _decoded(registered, "account") == "admin"
    assert "api-key" not in registered["data"]


def test_admin_key_given_as_digest_creates_no_plaintext_secret() -> None:
    digest = hashlib.sha256(b"t1_my-own-key").hexdigest()
    documents = render({"apiKeys": {"admin": {"sha256": digest, "account": "ops"}}})
    assert [s["metadata"]["name"] for s in find(documents, "Secret", "api-key")] == [
        f"tensorone-api-key-{digest[:12]}"
    ]
    assert _decoded(_key_secrets(documents)[0], "sha256") == digest


def test_admin_key_from_a_missing_existing_secret_fails_with_the_secret_name() -> None:
    with pytest.raises(helm.HelmRenderError, match="vault-admin-key"):
        render_files({"apiKeys": {"admin": {"existingSecret": "vault-admin-key"}}})


def test_admin_key_bootstrap_can_be_turned_off() -> None:
    documents = render({"apiKeys": {"admin": {"create": False}}})
    assert find(documents, "Secret", "api-key") == []


def test_chart_copy_of_the_crds_is_generated_by_make_manifests() -> None:
    generated = render_crds()
    copies = {p.name: p.read_text() for p in (CHART_DIR / "files" / "crds").glob("*.yaml")}
    assert copies == generated, "the chart's CRDs drifted from the models: run `make manifests`"
    assert copies == {p.name: p.read_text() for p in (REPO / "crds").glob("*.yaml")}


def test_rendered_crds_are_the_generated_ones_with_labels_and_keep() -> None:
    rendered = {c["metadata"]["name"]: c for c in find(render(), "CustomResourceDefinition")}
    for name, text in render_crds().items():
        generated = yaml.safe_load(text)
        crd = rendered[generated["metadata"]["name"]]
        assert crd["spec"] == generated["spec"], name
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert find(render({"crds": {"install": False}}), "CustomResourceDefinition") == []
    kept = find(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert all("annotations" not in c["metadata"] for c in kept)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"facade": {"replicas": "two"}}, "/facade/replicas"),
        ({"facade": {"port": 70000}}, "/facade/port"),
        ({"catalog": {"gpus": {"a100": {"pricePerHour": "2.50"}}}}, "/catalog/gpus/a100/pricePerHour"),
        ({"catalog": {"gpus": {"tpu": {}}}}, "/catalog/gpus"),
        ({"operator": {"defaults": {"checkpointSize": "lots"}}}, "/operator/defaults/checkpointSize"),
        ({"operator": {"defaults": {"stallWindowSeconds": "10m"}}}, "/operator/defaults/stallWindowSeconds"),
        ({"priorityClasses": {"create": "yes"}}, "/priorityClasses/create"),
        ({"apiKeys": {"admin": {"sha256": "not-hex"}}}, "/apiKeys/admin/sha256"),
        ({"facade": {"namespaceTemplate": "fixed"}}, "/facade/namespaceTemplate"),
        ({"facade": {"replica": 2}}, "replica"),
    ],
    ids=[
        "replicas-string", "port-out-of-range", "price-as-string", "unknown-gpu-type", "bad-quantity",
        "duration-string", "bool-as-string", "digest-not-hex", "template-without-account", "misspelt-key",
    ],
)  # fmt: skip
def test_schema_rejects_wrong_values_naming_the_key(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        load_chart().validate_schema(values)
