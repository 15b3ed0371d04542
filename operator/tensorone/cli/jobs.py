"""``tensorone jobs …``: submit, list, inspect, watch, stop, resume, follow logs and delete training jobs, and
read their events, metric history and checkpoints, and download their artifacts.

Every command that takes a JOB accepts its id, its Kubernetes name or its name (see ``tensorone.cli.lookup``).
Exit codes: see ``tensorone.cli.common``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.live import Live

from tensorone.cli.common import (
    EXIT_FAILED,
    EXIT_STOPPED,
    ApiKey,
    BaseUrl,
    Output,
    OutputOption,
    api_client,
    console,
    emit,
    err_console,
)
from tensorone.cli.lookup import resolve_job_id
from tensorone.cli.progress import follow_job
from tensorone.cli.tables import checkpoints_table, events_table, job_table, jobs_table, metrics_table
from tensorone.sdk.models import JobList, JobSummary

app = typer.Typer(
    help="Training jobs: create, list, get, watch, stop, resume, logs, events, metrics, checkpoints, download, "
    "delete.",
    no_args_is_help=True,
)
JobRef = Annotated[str, typer.Argument(metavar="JOB", help="Job id, Kubernetes name or name")]


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
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Keep the table up to date until Ctrl-C")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between refreshes with --watch")] = 2.0,
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List jobs (newest first); with --watch, a table that refreshes until Ctrl-C."""
    if watch and output != Output.TABLE:
        err_console.print("[red]error[/red] --watch shows a table; leave out --output", highlight=False)
        raise typer.Exit(2)
    with api_client(api_key, base_url) as client:

        def fetch() -> JobList:
            return client.training.jobs.list(
                status=status, model_type=model_type, limit=limit, offset=offset, sort=sort, order=order
            )

        if not watch:
            page = fetch()
            emit(page, output, lambda: jobs_table(page.jobs))
            return
        try:
            _watch_table(lambda: fetch().jobs, interval)
        except KeyboardInterrupt:
            return


def _watch_table(fetch: Callable[[], list[JobSummary]], interval: float) -> None:
    """Redraw the table in place on a terminal; elsewhere print it again whenever a job changed (like
    ``kubectl get -w``), ignoring the AGE column."""
    jobs = fetch()
    if console.is_terminal:
        with Live(jobs_table(jobs), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(jobs_table(fetch()), refresh=True)
    seen: object = None
    while True:
        state = [(j.id, j.name, j.status, j.progress.percentage, j.metrics.current_loss) for j in jobs]
        if state != seen:
            console.print(jobs_table(jobs))
            console.file.flush()
            seen = state
        time.sleep(interval)
        jobs = fetch()


@app.command("get")
def get(
    job_ref: JobRef, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Show one job."""
    with api_client(api_key, base_url) as client:
        job_id = resolve_job_id(client, job_ref)
        job = client.training.jobs.get(job_id)
        emit(job, output, lambda: job_table(job))


@app.command("stop")
def stop(
    job_ref: JobRef,
    no_checkpoint: Annotated[bool, typer.Option("--no-checkpoint", help="Stop without a checkpoint")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (kept on the job)")] = None,
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Stop a job (workers checkpoint first unless --no-checkpoint)."""
    with api_client(api_key, base_url) as client:
        job_id = resolve_job_id(client, job_ref)
        job = client.training.jobs.stop(job_id, save_checkpoint=not no_checkpoint, reason=reason)
        emit(job, output, lambda: job_table(job)) if output != Output.TABLE else typer.echo(
            f"{job.id} {job.status}"
        )


@app.command("resume")
def resume(
    job_ref: JobRef,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="Checkpoint id (default: latest)")
    ] = None,
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Resume a stopped job from a checkpoint."""
    with api_client(api_key, base_url) as client:
        job_id = resolve_job_id(client, job_ref)
        job = client.training.jobs.resume(job_id, checkpoint_id=checkpoint)
        emit(job, output, lambda: job_table(job)) if output != Output.TABLE else typer.echo(
            f"{job.id} {job.status}"
        )


@app.command("delete")
def delete(
    job_ref: JobRef,
    purge_checkpoints: Annotated[bool, typer.Option("--purge-checkpoints")] = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Delete a job (cancelling it if it runs); checkpoints are kept unless --purge-checkpoints."""
    with api_client(api_key, base_url) as client:
        job_id = resolve_job_id(client, job_ref)
        client.training.jobs.delete(job_id, purge_checkpoints=purge_checkpoints)
        typer.echo(f"{job_id} deleted")


@app.command("logs")
def logs(
    job_ref: JobRef,
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
        job_id = resolve_job_id(client, job_ref)
        if follow:
            for chunk in client.training.jobs.follow_logs(job_id, worker=worker, tail=tail):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        else:
            sys.stdout.write(client.training.jobs.logs(job_id, worker=worker, tail=tail, attempt=attempt))


@app.command("watch")
def watch(
    job_ref: JobRef,
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 2.0,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Follow a job until it finishes: live progress, loss, throughput, ETA and cost.

    Exit 0 completed; 1 failed (its reason and message are printed); 8 stopped or cancelled.
    """
    with api_client(api_key, base_url) as client:
        job_id = resolve_job_id(client, job_ref)
        final = follow_job(client, job_id, console, interval=interval)
        if final.status == "failed":
            why = f"{final.error.reason}: {final.error.message}" if final.error else "(no reason recorded)"
            err_console.print(f"[red]job failed[/red] {why}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED)
        if final.status in ("stopped", "cancelled"):
            raise typer.Exit(EXIT_STOPPED)


@app.command("events")
def events(
    job_ref: JobRef, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """The job's Kubernetes events (admission, scheduling, workers, retries, failures), oldest first."""
    with api_client(api_key, base_url) as client:
        items = client.training.jobs.events(resolve_job_id(client, job_ref))
        emit({"events": items}, output, lambda: events_table(items))


@app.command("metrics")
def metrics(
    job_ref: JobRef, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """The job's metric history: one row per logged optimizer step, across every attempt."""
    with api_client(api_key, base_url) as client:
        points = client.training.jobs.metrics(resolve_job_id(client, job_ref))
        emit({"points": points}, output, lambda: metrics_table(points))


@app.command("checkpoints")
def checkpoints(
    job_ref: JobRef, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """The job's checkpoints (ids for `jobs resume --checkpoint`)."""
    with api_client(api_key, base_url) as client:
        items = client.training.jobs.checkpoints(resolve_job_id(client, job_ref))
        emit({"checkpoints": items}, output, lambda: checkpoints_table(items))


@app.command("download")
def download(
    job_ref: JobRef,
    name: Annotated[
        str, typer.Argument(help="Artifact name, as `jobs get` lists it (adapter, merged, best…)")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to save it (a folder artifact is unpacked there)"),
    ] = None,
    tar: Annotated[bool, typer.Option("--tar", help="Keep a folder artifact as its .tar")] = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Download an artifact of a finished job: a file as it is, a folder unpacked (or as a .tar)."""
    with api_client(api_key, base_url) as client:
        saved = client.training.jobs.download_artifact(
            resolve_job_id(client, job_ref), name, to=out, extract=not tar
        )
    console.print(f"saved {name} to {saved}")
