"""``tensorone jobs …``: submit, list, inspect, watch, stop, resume, follow logs and delete training jobs.

Exit codes scripts can rely on: 0 success; 1 other API error (and ``watch``: the job failed); 2 invalid input
(``CONFIGURATION_ERROR`` or usage); 3 not found; 4 unauthorized; 5 refused in this state (``INVALID_STATE``,
``INSUFFICIENT_RESOURCES``); 6 rate limited or over quota; 7 API unreachable; 8 (``watch``) the job was stopped
or cancelled.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from tensorone.cli.progress import follow_job, loss_text
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import TensorOneError
from tensorone.sdk.models import TrainingJob

app = typer.Typer(
    help="Training jobs: create, list, get, watch, stop, resume, logs, delete.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

EXIT_CODES = {
    "CONFIGURATION_ERROR": 2,
    "NOT_FOUND": 3,
    "JOB_NOT_FOUND": 3,
    "DATASET_NOT_FOUND": 3,
    "CHECKPOINT_NOT_FOUND": 3,
    "UNAUTHORIZED": 4,
    "INVALID_STATE": 5,
    "INSUFFICIENT_RESOURCES": 5,
    "RATE_LIMITED": 6,
    "QUOTA_EXCEEDED": 6,
    "CONNECTION_ERROR": 7,
}
EXIT_FAILED, EXIT_STOPPED = 1, 8


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="TENSORONE_API_KEY", help="API key")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", envvar="TENSORONE_BASE_URL", help="API URL")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table, json or yaml")]


@contextmanager
def api_client(api_key: str | None, base_url: str | None) -> Iterator[TensorOneClient]:
    """A client whose API errors end the command with the documented exit code and a one-line message."""
    try:
        with TensorOneClient(api_key=api_key, base_url=base_url) as client:
            yield client
    except TensorOneError as e:
        field = e.details.get("field")
        where = f" ({field}: {e.details.get('reason')})" if field else ""
        err_console.print(f"[red]error[/red] {e.error}: {e.message}{where}", highlight=False)
        raise typer.Exit(EXIT_CODES.get(e.error, 1)) from e


def emit(
    data: BaseModel | list[Any] | dict[str, Any], output: Output, table: Callable[[], Table] | None
) -> None:
    """Print ``data`` as JSON/YAML (wire names) or as a table."""
    if isinstance(data, BaseModel):
        plain: Any = data.model_dump(mode="json", by_alias=True)
    elif isinstance(data, list):
        plain = [d.model_dump(mode="json", by_alias=True) if isinstance(d, BaseModel) else d for d in data]
    else:
        plain = data
    if output == Output.JSON or (output == Output.TABLE and table is None):
        typer.echo(json.dumps(plain, indent=2))
    elif output == Output.YAML:
        typer.echo(yaml.safe_dump(plain, sort_keys=False).rstrip())
    else:
        assert table is not None
        console.print(table())


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def jobs_table(jobs: list[TrainingJob]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "STATUS", "TYPE", "PROGRESS", "LOSS", "AGE"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job.id, job.name, job.status, job.model_type, f"{job.progress.percentage:.1f}%", loss_text(job),
            _age(job.created_at),
        )  # fmt: skip
    return table


def job_table(job: TrainingJob) -> Table:
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    cost = job.resource_usage.cost if job.resource_usage else 0.0
    rows = [
        ("ID", job.id), ("Name", job.name), ("Status", job.status), ("Model type", job.model_type),
        ("Dataset", job.dataset_id or "-"),
        ("Progress", f"{job.progress.percentage:.1f}% (epoch {job.progress.current_epoch}/"
                     f"{job.progress.total_epochs}, step {job.progress.current_step}/{job.progress.total_steps})"),
        ("Loss", loss_text(job)), ("Throughput", job.metrics.throughput or "-"), ("Cost so far", f"${cost:.2f}"),
        ("Checkpoints", ", ".join(c.id for c in job.checkpoints) or "-"), ("Created", str(job.created_at)),
    ]  # fmt: skip
    if job.error is not None:
        rows.append(("Error", f"{job.error.reason}: {job.error.message}"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def _load(path: Path) -> Any:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


@app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="Job file (JSON/YAML, shape A or B; - = stdin)")],
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Submit the job described in FILE."""
    body = _load(file)
    with api_client(api_key, base_url) as client:
        created = client.training.jobs.create(body=body)
        if output != Output.TABLE:
            emit(created, output, None)
        else:
            typer.echo(f"{created.id} {created.status}")


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status")] = None,
    model_type: Annotated[str | None, typer.Option("--model-type")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-100)")] = 50,
    offset: int = 0,
    sort: str = "created_at",
    order: str = "desc",
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List jobs (newest first)."""
    with api_client(api_key, base_url) as client:
        page = client.training.jobs.list(
            status=status, model_type=model_type, limit=limit, offset=offset, sort=sort, order=order
        )
        emit(page, output, lambda: jobs_table(page.jobs))


@app.command("get")
def get(
    job_id: str, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Show one job."""
    with api_client(api_key, base_url) as client:
        job = client.training.jobs.get(job_id)
        emit(job, output, lambda: job_table(job))


@app.command("stop")
def stop(
    job_id: str,
    no_checkpoint: Annotated[bool, typer.Option("--no-checkpoint", help="Stop without a checkpoint")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (kept on the job)")] = None,
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Stop a job (workers checkpoint first unless --no-checkpoint)."""
    with api_client(api_key, base_url) as client:
        job = client.training.jobs.stop(job_id, save_checkpoint=not no_checkpoint, reason=reason)
        emit(job, output, lambda: job_table(job)) if output != Output.TABLE else typer.echo(
            f"{job.id} {job.status}"
        )


@app.command("resume")
def resume(
    job_id: str,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="Checkpoint id (default: latest)")
    ] = None,
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Resume a stopped job from a checkpoint."""
    with api_client(api_key, base_url) as client:
        job = client.training.jobs.resume(job_id, checkpoint_id=checkpoint)
        emit(job, output, lambda: job_table(job)) if output != Output.TABLE else typer.echo(
            f"{job.id} {job.status}"
        )


@app.command("delete")
def delete(
    job_id: str,
    purge_checkpoints: Annotated[bool, typer.Option("--purge-checkpoints")] = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Delete a job (cancelling it if it runs); checkpoints are kept unless --purge-checkpoints."""
    with api_client(api_key, base_url) as client:
        client.training.jobs.delete(job_id, purge_checkpoints=purge_checkpoints)
        typer.echo(f"{job_id} deleted")


@app.command("logs")
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming")] = False,
    worker: Annotated[int, typer.Option(help="Worker index")] = 0,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines")] = None,
    attempt: Annotated[
        int | None, typer.Option(help="Only this attempt (default: every attempt kept)")
    ] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Print a worker's log (of a finished job: every attempt's, unless --attempt picks one)."""
    with api_client(api_key, base_url) as client:
        if follow:
            for chunk in client.training.jobs.follow_logs(job_id, worker=worker, tail=tail):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        else:
            sys.stdout.write(client.training.jobs.logs(job_id, worker=worker, tail=tail, attempt=attempt))


@app.command("watch")
def watch(
    job_id: str,
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 2.0,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Follow a job until it finishes: a live bar with loss, throughput, ETA and cost (plain lines without a
    terminal). Exit 0 completed, 1 failed, 8 stopped/cancelled."""
    with api_client(api_key, base_url) as client:
        final = follow_job(client, job_id, console, interval=interval)
        if final.status == "failed":
            if final.error is not None:  # why, in the trainer's or the operator's words
                typer.echo(f"failed ({final.error.reason}): {final.error.message}", err=True)
            raise typer.Exit(EXIT_FAILED)
        if final.status in ("stopped", "cancelled"):
            raise typer.Exit(EXIT_STOPPED)
