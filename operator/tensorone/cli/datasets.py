"""``tensorone datasets …``: register, list, get and delete datasets (exit codes as ``tensorone jobs``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tensorone.cli.common import ApiKey, BaseUrl, Output, OutputOption, age, api_client, emit
from tensorone.sdk.models import Dataset

app = typer.Typer(help="Datasets: create (register), list, get, delete.", no_args_is_help=True)


def datasets_table(datasets: list[Dataset]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "FORMAT", "SOURCE", "STATUS", "AGE"):
        table.add_column(column)
    for d in datasets:
        table.add_row(d.id, d.name, d.format, d.source, d.status or "-", age(d.created_at))
    return table


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Display name")],
    format: Annotated[str, typer.Option("--format", help="json, jsonl, csv, parquet or yolo")],
    source: Annotated[str, typer.Option(help="URL or absolute path on the cluster's dataset volume")],
    output: OutputOption = Output.TABLE,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Register a dataset."""
    with api_client(api_key, base_url) as client:
        dataset = client.datasets.create(name, format, source)
        emit(dataset, output, lambda: datasets_table([dataset])) if output != Output.TABLE else typer.echo(
            dataset.id
        )


@app.command("list")
def list_datasets(
    limit: int = 50, offset: int = 0, output: OutputOption = Output.TABLE, api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:  # fmt: skip
    """List datasets."""
    with api_client(api_key, base_url) as client:
        page = client.datasets.list(limit=limit, offset=offset)
        emit(page, output, lambda: datasets_table(page.datasets))


@app.command("get")
def get(
    dataset_id: str, output: OutputOption = Output.TABLE, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Show one dataset."""
    with api_client(api_key, base_url) as client:
        dataset = client.datasets.get(dataset_id)
        emit(dataset, output, lambda: datasets_table([dataset]))


@app.command("delete")
def delete(dataset_id: str, api_key: ApiKey = None, base_url: BaseUrl = None) -> None:
    """Delete a dataset (refused while unfinished jobs use it)."""
    with api_client(api_key, base_url) as client:
        client.datasets.delete(dataset_id)
        typer.echo(f"{dataset_id} deleted")
