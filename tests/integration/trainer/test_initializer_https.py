"""An ``https://`` dataset fetched by the initializer from a local TLS server (a certificate made for the test and
trusted through ``SSL_CERT_FILE``): fetched once, then revalidated with a conditional request (304, no body)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorone.api.data_paths import DATA_VOLUME_MOUNT_PATH
from tensorone.api.sources import InitializerReport, local_dataset_path
from tensorone.api.trainer_config import EXIT_DATA_ERROR
from tests.integration.trainer.test_initializer import RECORDS, initialize


class _Files(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        type(self).requests.append(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    root = tmp_path_factory.mktemp("https")
    (root / "files").mkdir()
    (root / "files" / "train.jsonl").write_bytes(RECORDS)
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    requests: list[str] = []
    handler = type("Files", (_Files,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root / "files"))
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", cert, requests
    finally:
        httpd.shutdown()


def test_an_https_file_is_fetched_once_then_revalidated_without_a_download(
    server: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    base, cert, requests = server
    source = f"{base}/train.jsonl"
    env = {"SSL_CERT_FILE": str(cert)}
    code, message, _ = initialize(tmp_path, env, "--dataset", source, "--format", "jsonl")
    assert code == 0, message
    first = InitializerReport.model_validate_json(message)
    assert first.dataset is not None
    assert (first.dataset.cache_hit, first.dataset.fetched_bytes) == (False, len(RECORDS))
    copy = tmp_path / Path(local_dataset_path(source)).relative_to(DATA_VOLUME_MOUNT_PATH)
    assert copy.read_bytes() == RECORDS

    code, message, _ = initialize(tmp_path, env, "--dataset", source, "--format", "jsonl")
    assert code == 0, message
    again = InitializerReport.model_validate_json(message)
    assert again.dataset is not None
    assert again.dataset.cache_hit is True
    assert [r for r in requests if r.startswith("GET")] == ["GET /train.jsonl 200"]
    assert "HEAD /train.jsonl 304" in requests


def test_a_missing_https_file_fails_at_once(server: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, cert, _ = server
    code, message, _ = initialize(tmp_path, {"SSL_CERT_FILE": str(cert)}, "--dataset", f"{base}/gone.jsonl")
    assert code == EXIT_DATA_ERROR
    assert message == f"Dataset source {base}/gone.jsonl: not found (HTTP 404)"
