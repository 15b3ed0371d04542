"""What every API command of the CLI shares: the key/URL options, output formats, and turning API errors into
one-line messages with the documented exit codes.

Exit codes scripts can rely on: 0 success; 1 other API error (and ``jobs watch``: the job failed); 2 invalid
input (``CONFIGURATION_ERROR``, usage, an ambiguous job name); 3 not found; 4 unauthorized (or no key); 5 refused
in this state (``INVALID_STATE``, ``INSUFFICIENT_RESOURCES``); 6 rate limited or over quota; 7 API unreachable;
8 (``jobs watch``) the job was stopped or cancelled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from tensorone.sdk.client import DEFAULT_BASE_URL, TensorOneClient
from tensorone.sdk.errors import TensorOneError

console = Console()
err_console = Console(stderr=True)

EXIT_CODES = {
    "CONFIGURATION_ERROR": 2,
    "PAYLOAD_TOO_LARGE": 2,
    "AMBIGUOUS_NAME": 2,
    "NOT_FOUND": 3,
    "JOB_NOT_FOUND": 3,
    "DATASET_NOT_FOUND": 3,
    "CHECKPOINT_NOT_FOUND": 3,
    "ARTIFACT_NOT_FOUND": 3,
    "UNAUTHORIZED": 4,
    "INVALID_STATE": 5,
    "INSUFFICIENT_RESOURCES": 5,
    "RATE_LIMITED": 6,
    "QUOTA_EXCEEDED": 6,
    "CONNECTION_ERROR": 7,
}
EXIT_FAILED, EXIT_STOPPED = 1, 8
BASE_URL_ENV, API_KEY_ENV = "TENSORONE_BASE_URL", "TENSORONE_API_KEY"
# Where `tensorone sandbox up --with-facade` writes the URL and key (its default --dir).
SETUP_HINT = (
    f"export {BASE_URL_ENV}=$(cat .sandbox/api-url) {API_KEY_ENV}=$(cat .sandbox/api-key) after "
    "`tensorone sandbox up --with-facade`, or pass --base-url / --api-key"
)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


ApiKey = Annotated[str | None, typer.Option("--api-key", envvar=API_KEY_ENV, help="API key")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", envvar=BASE_URL_ENV, help="API URL")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table, json or yaml")]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]error[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _unreachable(url: str, base_url: str | None, cause: str) -> typer.Exit:
    source = (
        "the default: TENSORONE_BASE_URL is not set" if not base_url
        else BASE_URL_ENV if os.environ.get(BASE_URL_ENV) == base_url
        else "--base-url"
    )  # fmt: skip
    return _fail(
        f"CONNECTION_ERROR: cannot reach the TensorOne API at {url} ({source}): {cause}. "
        f"Set {BASE_URL_ENV} and {API_KEY_ENV}: {SETUP_HINT}",
        EXIT_CODES["CONNECTION_ERROR"],
    )


@contextmanager
def api_client(api_key: str | None, base_url: str | None) -> Iterator[TensorOneClient]:
    """A client whose API errors end the command with the documented exit code and a one-line message.

    A missing key or an unreachable API says which URL was tried and how to configure both.
    """
    if not (api_key or os.environ.get(API_KEY_ENV)):
        raise _fail(f"UNAUTHORIZED: no API key. Set {API_KEY_ENV}: {SETUP_HINT}", EXIT_CODES["UNAUTHORIZED"])
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        with TensorOneClient(api_key=api_key, base_url=url) as client:
            yield client
    except httpx.TransportError as e:  # a stream (logs -f) that could not start or broke off
        raise _unreachable(url, base_url, str(e) or type(e).__name__) from e
    except TensorOneError as e:
        if e.error == "CONNECTION_ERROR":
            raise _unreachable(url, base_url, e.message) from e
        field = e.details.get("field")
        where = f" ({field}: {e.details.get('reason')})" if field else ""
        raise _fail(f"{e.error}: {e.message}{where}", EXIT_CODES.get(e.error, 1)) from e


def plain(data: BaseModel | list[Any] | dict[str, Any]) -> Any:
    """``data`` as JSON-ready values with the API's wire names."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True)
    if isinstance(data, list):
        return [plain(d) if isinstance(d, BaseModel) else d for d in data]
    return {k: plain(v) if isinstance(v, BaseModel | list) else v for k, v in data.items()}


def emit(
    data: BaseModel | list[Any] | dict[str, Any], output: Output, table: Callable[[], Table] | None
) -> None:
    """Print ``data`` as JSON/YAML (wire names) or as a table."""
    if output == Output.JSON or (output == Output.TABLE and table is None):
        typer.echo(json.dumps(plain(data), indent=2))
    elif output == Output.YAML:
        typer.echo(yaml.safe_dump(plain(data), sort_keys=False).rstrip())
    else:
        assert table is not None
        console.print(table())


def age(moment: datetime | None) -> str:
    """``45s``, ``3m``, ``2h``, ``5d`` as kubectl shows ages."""
    if moment is None:
        return "-"
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"
