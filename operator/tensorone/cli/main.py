"""Entry point of the ``tensorone`` console script; sub-command groups live in sibling modules."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from tensorone import __version__
from tensorone.cli import datasets as datasets_cli
from tensorone.cli import jobs as jobs_cli
from tensorone.cli.validate import validate_command

app = typer.Typer(
    name="tensorone",
    help="TensorOne Training: submit, watch and manage training jobs on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("validate")(validate_command)
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(datasets_cli.app, name="datasets")

# The light tensorone-sdk distribution ships the client commands only; the platform's come with the platform.
if importlib.util.find_spec("tensorone.cli.platform") is not None:
    from tensorone.cli.platform import add_platform_commands

    add_platform_commands(app)


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
