"""Entry point of the ``tensorone`` console script; sub-command groups live in sibling modules."""

from __future__ import annotations

from typing import Annotated

import typer

from tensorone import __version__
from tensorone.cli import datasets as datasets_cli
from tensorone.cli import jobs as jobs_cli
from tensorone.cli.operator import operator_command
from tensorone.cli.sandbox import sandbox_app
from tensorone.cli.serve import keys_app, serve_command
from tensorone.cli.validate import validate_command

app = typer.Typer(
    name="tensorone",
    help="TensorOne Training: submit, watch and manage training jobs on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("validate")(validate_command)
app.add_typer(sandbox_app, name="sandbox")
app.command("operator")(operator_command)
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(datasets_cli.app, name="datasets")
app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tensorone {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """TensorOne Training: submit, watch and manage training jobs on Kubernetes."""


def main() -> None:
    """Run the CLI (used by ``python -m tensorone``)."""
    app()
