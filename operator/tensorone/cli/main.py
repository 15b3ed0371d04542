"""Entry point of the ``tensorone`` console script; sub-command groups live in sibling modules."""

from __future__ import annotations

import typer

from tensorone.cli.operator import operator_command
from tensorone.cli.sandbox import sandbox_app
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


@app.callback()
def _root() -> None:
    """TensorOne Training: submit, watch and manage training jobs on Kubernetes."""


def main() -> None:
    """Run the CLI (used by ``python -m tensorone``)."""
    app()
