"""``tensorone sandbox up|down``: run the local Kubernetes stand-in in the foreground, or stop a running one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(
    name="sandbox", help="A local Kubernetes stand-in (API server, GPU nodes, pods).", no_args_is_help=True
)

DirOption = Annotated[Path, typer.Option("--dir", help="Sandbox directory (kubeconfig, pod folders, logs).")]


async def _serve(directory: Path, port: int, gpus: str | None) -> None:
    from tensorone.sandbox.runtime import Sandbox

    sandbox = Sandbox(directory, port=port, gpus=gpus)
    await sandbox.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    typer.echo(f"ready {sandbox.url} kubeconfig={sandbox.kubeconfig_path}")
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


@sandbox_app.command("up")
def up(
    directory: DirOption = Path(".sandbox"),
    port: Annotated[int, typer.Option(help="API server port (0 = any free port).")] = 0,
    gpus: Annotated[
        str | None, typer.Option(help="Nodes, e.g. 'a100=8,h100=2', or a nodes YAML file.")
    ] = None,
    with_operator: Annotated[bool, typer.Option("--with-operator", help="Also run the operator.")] = False,
    with_facade: Annotated[bool, typer.Option("--with-facade", help="Also run the REST facade.")] = False,
) -> None:
    """Run the sandbox in the foreground until interrupted; prints one ``ready`` line once serving."""
    missing = [name for name, wanted in (("operator", with_operator), ("REST facade", with_facade)) if wanted]
    if missing:
        typer.echo(
            f"error: the sandbox cannot start the {' and the '.join(missing)} yet: not implemented in this"
            " version (run without --with-operator/--with-facade)",
            err=True,
        )
        raise typer.Exit(2)
    if gpus is not None:
        from tensorone.sandbox.config import node_specs

        try:
            node_specs(gpus)
        except (ValueError, OSError) as exc:
            typer.echo(f"error: --gpus: {exc}", err=True)
            raise typer.Exit(2) from exc
    asyncio.run(_serve(directory, port, gpus))


@sandbox_app.command("down")
def down(directory: DirOption = Path(".sandbox")) -> None:
    """Stop the sandbox running in DIR and every process it started."""
    state = directory / "sandbox.json"
    try:
        pid = int(json.loads(state.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        typer.echo(f"no sandbox is running in {directory}")
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state.unlink(missing_ok=True)
        typer.echo(f"no sandbox is running in {directory} (stale state removed)")
        return
    deadline = time.monotonic() + 20
    while state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        state.unlink(missing_ok=True)
    typer.echo(f"sandbox in {directory} stopped")
