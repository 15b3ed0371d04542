"""The tables ``tensorone jobs …`` prints (``-o json|yaml`` prints the API's own objects instead)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from tensorone.cli.common import age
from tensorone.cli.progress import loss_text
from tensorone.sdk.models import Checkpoint, Event, JobSummary, MetricPoint, TrainingJob


def _table(*columns: str) -> Table:
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def jobs_table(jobs: Sequence[JobSummary]) -> Table:
    table = _table("ID", "NAME", "STATUS", "TYPE", "PROGRESS", "LOSS", "AGE")
    for job in jobs:
        table.add_row(
            job.id, job.name, job.status, job.model_type, f"{job.progress.percentage:.1f}%", loss_text(job),
            age(job.created_at),
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


def events_table(events: Sequence[Event]) -> Table:
    table = _table("AGE", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE")
    for event in events:
        table.add_row(
            age(event.time), event.type, event.reason, event.object, str(event.count), event.message
        )
    return table


def metrics_table(points: Sequence[MetricPoint]) -> Table:
    table = _table("STEP", "EPOCH", "LOSS", "EVAL LOSS", "LR", "THROUGHPUT", "TIME")
    for p in points:
        table.add_row(
            str(p.step), _number(p.epoch, ".2f"), _number(p.loss, ".4f"), _number(p.eval_loss, ".4f"),
            _number(p.learning_rate, ".2e"), _number(p.throughput, ".1f"), p.time.strftime("%H:%M:%S"),
        )  # fmt: skip
    return table


def checkpoints_table(checkpoints: Sequence[Checkpoint]) -> Table:
    table = _table("ID", "EPOCH", "STEP", "LOSS", "SIZE", "AGE")
    for c in checkpoints:
        table.add_row(c.id, str(c.epoch), str(c.step), _number(c.loss, ".4f"), c.size, age(c.created_at))
    return table
