"""The commands that run the platform itself (``sandbox``, ``operator``, ``serve``, ``keys``).

They live apart from the client commands because they need the platform's dependencies (kopf, FastAPI,
uvicorn, the sandbox): the light ``tensorone-sdk`` distribution ships the client commands without this module.
"""

from __future__ import annotations

import typer

from tensorone.cli.operator import operator_command
from tensorone.cli.sandbox import sandbox_app
from tensorone.cli.serve import keys_app, serve_command


def add_platform_commands(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
    app.command("operator")(operator_command)
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")
