"""``tensorone operator``: run the TrainingJob control plane against a cluster (or the sandbox)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvloop

from tensorone.controller import run
from tensorone.controller.settings import SettingsError, load_settings


def operator_command(
    namespace: Annotated[str | None, typer.Option(help="Watch only this namespace (default: all)")] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Cluster to manage (default: $KUBECONFIG / in-cluster)")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Operator settings YAML (trainer image, pricing, timings)")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port")] = None,
    liveness_port: Annotated[
        int | None, typer.Option(help="Serve /healthz on this port, answered by the operator's event loop")
    ] = None,
    peering: Annotated[
        str | None, typer.Option(help="kopf peering name for active/standby operators")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
) -> None:
    """Run the operator: admit TrainingJobs, run their workers, keep their status, usage and cost."""
    logging.basicConfig(
        level=log_level.upper(),
        format='{"time": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": %(message)r}',
    )
    try:
        settings = load_settings(config)
    except SettingsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    # uvloop, as kopf's own CLI uses when it is installed: the operator spends much of its time in the event loop
    # and in socket I/O (watch streams, one request per child), both cheaper on libuv.
    uvloop.run(
        run(
            settings,
            namespace=namespace,
            kubeconfig=kubeconfig,
            metrics_port=metrics_port,
            liveness_port=liveness_port,
            peering=peering,
        )
    )
