"""``tensorone sandbox up|down``: run the local Kubernetes stand-in in the foreground, or stop a running one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(
    name="sandbox",
    help="The platform on one machine: a real Kubernetes control plane, GPU nodes run by our kubelet.",
    no_args_is_help=True,
)


def exports_text(kubeconfig: Path, directory: Path, facade_url: str | None) -> str:
    """What a person pastes into another shell to use this sandbox with kubectl, the CLI and the SDK."""
    lines = [
        "",
        "To use it from another shell:",
        f"  export KUBECONFIG={shlex.quote(str(kubeconfig.resolve()))}",
    ]
    if facade_url:
        key_file = shlex.quote(str((directory / "api-key").resolve()))
        lines += [
            f"  export TENSORONE_BASE_URL={facade_url}",
            f"  export TENSORONE_API_KEY=$(cat {key_file})",
            f"then `tensorone jobs list`, `kubectl get trainingjobs`, API docs at {facade_url}/docs.",
        ]
    else:
        lines.append("then `kubectl get nodes`.")
    lines.append(f"Stop it with Ctrl-C or `tensorone sandbox down --dir {shlex.quote(str(directory))}`.")
    return "\n".join(lines)


DirOption = Annotated[Path, typer.Option("--dir", help="Sandbox directory (kubeconfig, pod folders, logs).")]


async def _serve(
    directory: Path,
    port: int,
    gpus: str | None,
    with_operator: bool,
    with_facade: bool,
    operator_config: Path | None = None,
    demo_data: bool = False,
) -> None:
    from tensorone.api.accounts import SANDBOX_ACCOUNT, account_namespace
    from tensorone.facade.dashboard import UI_PREFIX
    from tensorone.sandbox.components import ComponentError, Components, install_product_crds
    from tensorone.sandbox.controlplane import ControlPlaneError
    from tensorone.sandbox.network import NetworkError
    from tensorone.sandbox.runtime import Sandbox

    # kubectl with DIR/kubeconfig shows the jobs the CLI and REST API of the sandbox's account create.
    namespace = account_namespace(SANDBOX_ACCOUNT) if with_facade else "default"
    sandbox = Sandbox(directory, port=port, gpus=gpus, kubeconfig_namespace=namespace)
    components = Components(sandbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sandbox.start()
        if with_operator or with_facade:
            assert sandbox.admin is not None
            await install_product_crds(sandbox.admin)
            await components.install_identities()
        if with_operator:
            await components.start_operator(operator_config)
        if with_facade:
            await components.start_facade()
        if demo_data:
            from tensorone.demo.assets import build_language_assets
            from tensorone.sandbox.runtime import DATASET_CLAIM

            # README's first job reads these: /datasets/models/tiny-llama and /datasets/text/python-docs.jsonl.
            await asyncio.to_thread(build_language_assets, directory / "volumes" / namespace / DATASET_CLAIM)
        extra = (
            f" api={components.facade_url} ui={components.facade_url}{UI_PREFIX}"
            if components.facade_url
            else ""
        )
        typer.echo(f"ready {sandbox.url} kubeconfig={sandbox.kubeconfig_path}{extra}", err=False)
        typer.echo(exports_text(sandbox.kubeconfig_path, directory, components.facade_url))
        await components.supervise(stop)
    except (ComponentError, ControlPlaneError, NetworkError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        await components.stop()
        await sandbox.stop()


@sandbox_app.command("up")
def up(
    directory: DirOption = Path(".sandbox"),
    port: Annotated[int, typer.Option(help="API server port (0 = any free port).")] = 0,
    gpus: Annotated[
        str | None, typer.Option(help="Nodes, e.g. 'a100=8,h100=2', or a nodes YAML file.")
    ] = None,
    with_operator: Annotated[bool, typer.Option("--with-operator", help="Also run the operator.")] = False,
    with_facade: Annotated[
        bool,
        typer.Option("--with-facade", help="Also run the REST facade (writes DIR/api-url, DIR/api-key)."),
    ] = False,
    operator_config: Annotated[
        Path | None,
        typer.Option(
            "--operator-config",
            exists=True,
            dir_okay=False,
            help="Operator settings YAML (default: the sandbox's, written to DIR/operator.yaml).",
        ),
    ] = None,
    with_demo_data: Annotated[
        bool,
        typer.Option(
            "--with-demo-data",
            help="Put the demo's tiny model and docs dataset on the account's dataset volume"
            " (/datasets/models/tiny-llama, /datasets/text/python-docs.jsonl).",
        ),
    ] = False,
) -> None:
    """Run the sandbox in the foreground until interrupted; prints one ``ready`` line once serving."""
    if gpus is not None:
        from tensorone.sandbox.config import node_specs

        try:
            node_specs(gpus)
        except (ValueError, OSError) as exc:
            typer.echo(f"error: --gpus: {exc}", err=True)
            raise typer.Exit(2) from exc
    asyncio.run(_serve(directory, port, gpus, with_operator, with_facade, operator_config, with_demo_data))


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
