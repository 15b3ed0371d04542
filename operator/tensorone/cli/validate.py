"""``tensorone validate FILE``: check a job file offline and show what it would cost.

Accepts a REST create request (shape A or B) or a TrainingJob manifest, in JSON or YAML. Prints ``valid`` with
the estimate, or every error with its field; exits 0 or 1. Whether the dataset exists is checked at submission.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tensorone.api.errors import ApiError, ConfigurationError
from tensorone.api.resources import TrainingJobResource, parse_training_job_spec
from tensorone.api.spec import API_GROUP, TRAINING_JOB_KIND, AnyJobSpec
from tensorone.api.translate import plan_create
from tensorone.catalog import load_catalog
from tensorone.catalog.estimator import Estimate, check_fits, estimate


def _load(path: Path) -> Any:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def _is_manifest(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and document.get("kind") == TRAINING_JOB_KIND
        and str(document.get("apiVersion", "")).startswith(API_GROUP + "/")
    )


def spec_of(document: Any) -> tuple[AnyJobSpec, str]:
    """The spec a job file describes and which form it was in; raises ``ApiError`` when invalid."""
    if _is_manifest(document):
        TrainingJobResource.from_k8s(document)  # metadata and status parse too
        return parse_training_job_spec(document.get("spec")), "TrainingJob manifest"
    plan = plan_create(document)
    return plan.spec, f"REST request (shape {plan.shape})"


def describe_estimate(result: Estimate) -> list[str]:
    hours = result.duration_seconds / 3600
    lines = [
        f"  GPUs:      {result.gpus_total} x {result.gpu_type}",
        f"  hourly:    ${result.hourly:,.2f}",
        f"  duration:  {hours:,.2f} h (estimated)",
        f"  total:     ${result.gpu_cost:,.2f} GPU + ${result.storage_cost:,.2f} storage",
    ]
    if result.memory_needed_gb is not None:
        lines.append(f"  memory:    ~{result.memory_needed_gb:.1f} GB per GPU")
    lines.extend(f"  assumes:   {note}" for note in result.assumptions)
    return lines


def validate_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Job file (JSON or YAML)")
    ],
    config: Annotated[Path | None, typer.Option(help="GPU catalog/pricing file (default: packaged)")] = None,
) -> None:
    """Validate a job file (REST shape A/B or a TrainingJob manifest) and print its cost estimate."""
    try:
        document = _load(file)
    except (ValueError, yaml.YAMLError) as e:
        typer.echo(f"invalid: {file} is not valid JSON/YAML: {e}", err=True)
        raise typer.Exit(1) from e
    catalog = load_catalog(config)
    try:
        spec, form = spec_of(document)
        check_fits(spec, catalog)
    except ConfigurationError as e:
        typer.echo(f"invalid ({len(e.problems)} error{'s' if len(e.problems) > 1 else ''}):")
        for problem in e.problems:
            typer.echo(f"  {problem.field}: {problem.reason}")
        raise typer.Exit(1) from e
    except ApiError as e:
        typer.echo(f"invalid: {e.code}: {e.message} {e.details}")
        raise typer.Exit(1) from e
    typer.echo(f"valid ({form}, {spec.model_type} job)")
    for line in describe_estimate(estimate(spec, catalog)):
        typer.echo(line)
