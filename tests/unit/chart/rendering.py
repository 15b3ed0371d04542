"""Render the chart with the real Helm engine and validate documents against the Kubernetes schemas.

Shared by the chart's unit tests and the integration tests that apply the rendered output to the sandbox.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[3]
CHART_DIR = REPO / "charts" / "tensorone-training"
RELEASE = "t1"
NAMESPACE = "tensorone-system"
# The newest Kubernetes minor kubernetes-validate ships and the two before it.
KUBERNETES_VERSIONS = ("1.37", "1.36", "1.35")
# Kinds of optional add-ons whose schemas are not part of Kubernetes (checked by their own tests).
THIRD_PARTY_API_GROUPS = ("monitoring.coreos.com/",)

Manifest = dict[str, Any]


@functools.cache
def load_chart() -> Any:
    return helm.Chart.load(CHART_DIR)


def render_files(
    values: dict[str, Any] | None = None, namespace: str = NAMESPACE, release: str = RELEASE
) -> dict[str, str]:
    """Template path (``templates/x.yaml``) → rendered text, as ``helm template`` produces it."""
    rendered: dict[str, str] = load_chart().render(
        values or {}, name=release, namespace=namespace, is_install=True
    )
    return {path.split("/", 1)[1]: text for path, text in rendered.items()}


def render(
    values: dict[str, Any] | None = None, namespace: str = NAMESPACE, release: str = RELEASE
) -> list[Manifest]:
    """Every rendered Kubernetes object (NOTES.txt excluded), in template order."""
    documents: list[Manifest] = []
    for path, text in sorted(render_files(values, namespace, release).items()):
        if not path.endswith(".yaml"):
            continue
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def find(documents: list[Manifest], kind: str, name_pattern: str = ".*") -> list[Manifest]:
    """Documents of ``kind`` whose name matches ``name_pattern`` (a regex searched in the name)."""
    return [d for d in documents if d["kind"] == kind and re.search(name_pattern, d["metadata"]["name"])]


def one(documents: list[Manifest], kind: str, name_pattern: str = ".*") -> Manifest:
    found = find(documents, kind, name_pattern)
    assert len(found) == 1, f"expected one {kind} matching {name_pattern!r}, got {len(found)}"
    return found[0]


def values_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    return loaded


def _schema_dir(version: str) -> Path:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    matches = sorted(base.glob(f"v{version}.*-local-strict"))
    assert matches, f"kubernetes-validate ships no schemas for {version}"
    return matches[-1]


@functools.cache
def _definitions(version: str) -> Registry[Any]:
    definitions = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    return registry


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    # Same schema files and lookup rule as kubernetes_validate.validate(strict=True), built once per kind.
    directory = _schema_dir(version)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = json.loads((directory / f"{kind.lower()}-{group_version}.json").read_text())
    registry = Resource.from_contents(schema) @ _definitions(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(document: Manifest, version: str) -> list[str]:
    """Violations of the Kubernetes ``version`` strict schema (unknown fields included)."""
    validator = _validator(version, document["kind"], document["apiVersion"])
    return [
        f"{document['kind']}/{document['metadata'].get('name')}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def is_third_party(document: Manifest) -> bool:
    return str(document["apiVersion"]).startswith(THIRD_PARTY_API_GROUPS)
