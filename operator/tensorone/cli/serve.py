"""``tensorone serve``: run the REST facade; ``tensorone keys create``: register an API key for an account."""

from __future__ import annotations

from typing import Annotated

import typer

from tensorone.facade.settings import Settings

keys_app = typer.Typer(help="API keys of the REST facade (stored hashed in Secrets).", no_args_is_help=True)
KubeconfigOption = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="kubeconfig of the cluster (default: in-cluster, then ~/.kube)"),
]


def serve_command(
    kubeconfig: KubeconfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the v2 REST API (settings also from TENSORONE_FACADE_* variables)."""
    import uvicorn

    from tensorone.facade.app import create_app

    app = create_app(Settings.from_env(kubeconfig=kubeconfig))
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


@keys_app.command("create")
def create_key_command(
    account: Annotated[str, typer.Option("--account", help="Account (tenant) the key belongs to")],
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Create an API key for ACCOUNT and print it once (only its sha256 is stored)."""
    from tensorone.facade.testing import bootstrap_key

    try:
        key = bootstrap_key(kubeconfig, account, Settings.from_env(kubeconfig=kubeconfig))
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(key)
