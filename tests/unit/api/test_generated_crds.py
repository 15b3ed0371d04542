"""``crds/`` is exactly what the models generate, and the CRDs carry what ``kubectl`` users rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tensorone.api.crd_gen import render_crds

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(render_crds()))
def test_committed_crd_matches_the_models(name: str) -> None:
    committed = (REPO / "crds" / name).read_text()
    assert committed == render_crds()[name], f"crds/{name} drifted from the models: run `make manifests`"


def test_training_job_crd_has_short_name_category_columns_and_status_subresource() -> None:
    crd = yaml.safe_load(render_crds()["trainingjobs.training.tensorone.ai.yaml"])
    names = crd["spec"]["names"]
    version = crd["spec"]["versions"][0]
    assert names["shortNames"] == ["tj"]
    assert names["categories"] == ["tensorone"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"].upper() for c in version["additionalPrinterColumns"]] == [
        "DISPLAY NAME", "STATUS", "PROGRESS", "LOSS", "GPU", "WORKERS", "COST", "AGE",
    ]  # fmt: skip


def test_dataset_crd_has_short_name_tds() -> None:
    crd = yaml.safe_load(render_crds()["datasets.training.tensorone.ai.yaml"])
    assert crd["spec"]["names"]["shortNames"] == ["tds"]


def _walk(node: object, inside_junctor: bool = False) -> list[str]:
    """Structural-schema violations: $ref, additionalProperties false, type/default inside junctors."""
    problems: list[str] = []
    if isinstance(node, dict):
        if "$ref" in node:
            problems.append("$ref")
        if node.get("additionalProperties") is False:
            problems.append("additionalProperties: false")
        if inside_junctor and ({"type", "default", "description", "nullable"} & node.keys()):
            problems.append(f"type/default/description inside a junctor: {sorted(node)}")
        for key, value in node.items():
            child_in_junctor = inside_junctor or key in {"oneOf", "anyOf", "allOf", "not"}
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    problems.extend(_walk(sub, child_in_junctor))
            else:
                problems.extend(_walk(value, child_in_junctor))
    elif isinstance(node, list):
        for item in node:
            problems.extend(_walk(item, inside_junctor))
    return problems


@pytest.mark.parametrize("name", sorted(render_crds()))
def test_crd_schema_is_structural(name: str) -> None:
    crd = yaml.safe_load(render_crds()[name])
    assert _walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("progress",), "percentDisplay"),
        (("metrics",), "lossDisplay"),
        (("resourceUsage",), "costDisplay"),
    ],
    ids=["progress", "loss", "cost"],
)
def test_status_keeps_the_display_strings_kubectl_shows_without_requiring_them(
    path: tuple[str, ...], field: str
) -> None:
    """The API server prunes what the schema lacks, and refuses a status that omits a required key (a writer
    that patches without the models, e.g. only ``progress.percentage``)."""
    crd = yaml.safe_load(render_crds()["trainingjobs.training.tensorone.ai.yaml"])
    node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    for key in path:
        node = node["properties"][key]
    assert node["properties"][field]["type"] == "string"
    assert field not in node.get("required", [])
