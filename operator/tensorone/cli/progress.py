"""Following a job live: a rich progress bar on a terminal, plain status lines otherwise.

Shared by ``tensorone jobs watch`` and the demo, so both show the same thing.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.models import JobSummary, TrainingJob


def loss_text(job: JobSummary) -> str:
    loss = job.metrics.current_loss
    return f"{loss:.4f}" if loss is not None else "-"


def cost_of(job: TrainingJob) -> float:
    return job.resource_usage.cost if job.resource_usage else 0.0


def status_line(job: TrainingJob) -> str:
    """One plain line: status, progress, loss, throughput, ETA and cost."""
    p, m = job.progress, job.metrics
    eta = f"{int(p.remaining_time)}s" if p.remaining_time is not None else "-"
    return (
        f"{job.status} {p.percentage:5.1f}% epoch {p.current_epoch}/{p.total_epochs} step "
        f"{p.current_step}/{p.total_steps} loss {loss_text(job)} {m.throughput or '-'} eta {eta} "
        f"cost ${cost_of(job):.2f}"
    )


def follow_job(
    client: TensorOneClient,
    job_id: str,
    console: Console,
    *,
    interval: float = 2.0,
    until: Callable[[TrainingJob], bool] | None = None,
) -> TrainingJob:
    """Render the job until it finishes, or until ``until(job)`` is true; returns the last job seen."""
    final: TrainingJob | None = None
    jobs = client.training.jobs.watch(job_id, poll_interval=interval)
    if console.is_terminal:
        columns = (
            TextColumn("[bold]{task.fields[status]:<9}"), BarColumn(),
            TextColumn("{task.percentage:>5.1f}%  loss {task.fields[loss]}  {task.fields[throughput]}  "
                       "ETA {task.fields[eta]}  ${task.fields[cost]}"),
        )  # fmt: skip
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(job_id, total=100, status="", loss="-", throughput="-", eta="-", cost="0.00")
            for job in jobs:
                final = job
                eta = job.progress.remaining_time
                bar.update(
                    task, completed=job.progress.percentage, status=job.status, loss=loss_text(job),
                    throughput=job.metrics.throughput or "-", eta=f"{int(eta)}s" if eta is not None else "-",
                    cost=f"{cost_of(job):.2f}",
                )  # fmt: skip
                if until is not None and until(job):
                    break
    else:
        last = ""
        for job in jobs:
            final = job
            line = status_line(job)
            if line != last:
                console.print(line, highlight=False, soft_wrap=True)
                last = line
            if until is not None and until(job):
                break
    assert final is not None
    return final
