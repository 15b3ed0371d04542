"""Generate the CustomResourceDefinitions from the pydantic models (``make manifests``).

The models are the single source of truth; ``crds/`` is never edited by hand, and a test fails when it drifts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from tensorone.api.dataset import DatasetSpec, DatasetStatus
from tensorone.api.openapi_schema import Schema, drop_defaults, resolve_refs, to_structural
from tensorone.api.spec import (
    API_GROUP,
    API_VERSION,
    DATASET_KIND,
    DATASET_PLURAL,
    TRAINING_JOB_KIND,
    TRAINING_JOB_PLURAL,
    TRAINING_JOB_SPEC_DESCRIPTION,
    TrainingJobSpec,
)
from tensorone.api.status import TrainingJobStatus

CATEGORY = "tensorone"


def _structural(adapter_or_model: Any, *, keep_defaults: bool, mode: JsonSchemaMode = "validation") -> Schema:
    adapter = adapter_or_model if isinstance(adapter_or_model, TypeAdapter) else TypeAdapter(adapter_or_model)
    raw = adapter.json_schema(by_alias=True, mode=mode)
    return to_structural(resolve_refs(raw), keep_defaults=keep_defaults)


def training_job_spec_schema() -> Schema:
    """The structural schema of TrainingJob ``spec``; config defaults differ per model type, so none are kept."""
    schema = _structural(TypeAdapter(TrainingJobSpec), keep_defaults=True)
    schema["properties"]["config"] = drop_defaults(schema["properties"]["config"])
    return schema


def _status_schema(model: Any) -> Schema:
    """The status as its writers serialize it: computed fields included (the API server would prune them)."""
    schema: Schema = drop_defaults(_structural(model, keep_defaults=False, mode="serialization"))
    return schema


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec: Schema,
    status: Schema,
    columns: list[dict[str, Any]],
    spec_description: str,
) -> dict[str, Any]:
    spec["description"] = spec_description
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def training_job_crd() -> dict[str, Any]:
    """The TrainingJob CRD."""
    # Numbers as people read them (the status carries the strings: printer columns cannot format numbers), and
    # the name the job was given beside its generated one.
    columns = [
        {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
        {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Progress",
            "type": "string",
            "jsonPath": ".status.progress.percentDisplay",
            "description": "percent done",
        },
        {"name": "Loss", "type": "string", "jsonPath": ".status.metrics.lossDisplay"},
        {"name": "GPU", "type": "string", "jsonPath": ".spec.gpuType"},
        {"name": "Workers", "type": "integer", "jsonPath": ".spec.maxWorkers"},
        {
            "name": "Cost",
            "type": "string",
            "jsonPath": ".status.resourceUsage.costDisplay",
            "description": "USD so far",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(
        kind=TRAINING_JOB_KIND,
        plural=TRAINING_JOB_PLURAL,
        short_names=["tj"],
        spec=training_job_spec_schema(),
        status=_status_schema(TrainingJobStatus),
        columns=columns,
        spec_description=TRAINING_JOB_SPEC_DESCRIPTION,
    )


def dataset_crd() -> dict[str, Any]:
    """The Dataset CRD."""
    columns = [
        {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
        {"name": "Format", "type": "string", "jsonPath": ".spec.format"},
        {"name": "Source", "type": "string", "jsonPath": ".spec.source"},
        {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(
        kind=DATASET_KIND,
        plural=DATASET_PLURAL,
        short_names=["tds"],
        spec=_structural(DatasetSpec, keep_defaults=True),
        status=_status_schema(DatasetStatus),
        columns=columns,
        spec_description=DatasetSpec.__doc__ or "",
    )


def render_crds() -> dict[str, str]:
    """File name → YAML text of every generated CRD."""
    rendered = {}
    for crd in (training_job_crd(), dataset_crd()):
        text = yaml.safe_dump(crd, sort_keys=False, width=120)
        rendered[f"{crd['metadata']['name']}.yaml"] = (
            "# Generated by `make manifests` from tensorone.api; do not edit.\n" + text
        )
    return rendered


def write_crds(out_dirs: list[Path]) -> list[Path]:
    """Write every CRD into each directory; returns the files written."""
    written = []
    for out_dir in out_dirs:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in render_crds().items():
            path = out_dir / name
            path.write_text(text)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, action="append", required=True, help="directory to write (repeatable)"
    )
    args = parser.parse_args()
    for path in write_crds(args.out):
        print(path)


if __name__ == "__main__":
    main()
