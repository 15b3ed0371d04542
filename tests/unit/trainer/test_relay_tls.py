"""The relay sends the pod's token only to an endpoint whose certificate it verified.

The endpoint is a real local HTTPS server with a certificate from a CA of its own (made as the sandbox makes the
report endpoint's); the relay is the real one, with its real HTTP client. What is checked is what an attacker on
the path would see: whether a request (and with it the token) ever reached the server.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tensorone.api.reporting import REPORT_CA_ENV, REPORT_URL_ENV, report_url
from tensorone.sandbox.pki import ServingTls, create_serving_tls
from tensorone_trainer.relay import Relay, RelayConfigError, upstream_tls

BODY = b'{"progress": {"currentStep": 3}}'
TOKEN = "eyJpod.token.one"


class TlsEndpoint:
    """An HTTPS server that records every request it reads and every connection it accepts."""

    def __init__(self, tls: ServingTls, host: str = "127.0.0.1") -> None:
        self.received: list[tuple[str | None, bytes]] = []
        self.connections = 0
        self.failed_handshakes = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((self.headers.get("Authorization"), body))
                answer = b'{"accepted": true}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, Any]:
                raw, address = self.socket.accept()
                endpoint.connections += 1
                try:
                    return context.wrap_socket(raw, server_side=True), address
                except (ssl.SSLError, OSError):
                    endpoint.failed_handshakes += 1
                    raw.close()
                    raise

        self.server = Server((host, 0), Handler)
        self.host = host
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return report_url(self.host, self.port, tls=True)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tls(directory: Path, *, ips: list[str], dns_names: list[str] | None = None) -> ServingTls:
    return create_serving_tls(directory, common_name="report-endpoint", ips=ips, dns_names=dns_names or [])


@pytest.fixture(scope="module")
def operator_tls(tmp_path_factory: pytest.TempPathFactory) -> ServingTls:
    return _tls(tmp_path_factory.mktemp("operator-tls"), ips=["127.0.0.1"], dns_names=["localhost"])


@pytest.fixture(scope="module")
def stranger_tls(tmp_path_factory: pytest.TempPathFactory) -> ServingTls:
    """Another CA, with a certificate for the same address: what someone on the path could make."""
    return _tls(tmp_path_factory.mktemp("stranger-tls"), ips=["127.0.0.1"], dns_names=["localhost"])


@pytest.fixture
def endpoint(operator_tls: ServingTls) -> Iterator[TlsEndpoint]:
    served = TlsEndpoint(operator_tls)
    yield served
    served.close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def _send_through(relay: Relay) -> httpx.Response:
    relay.serve()
    try:
        url = report_url("127.0.0.1", relay.server.server_address[1], tls=False)
        return httpx.post(url, content=BODY, headers={"Content-Type": "application/json"}, timeout=30)
    finally:
        relay.close()


def test_a_relay_given_the_operators_ca_forwards_the_report_with_the_token_over_tls(
    endpoint: TlsEndpoint, operator_tls: ServingTls, token: Path
) -> None:
    relay = Relay(endpoint.url(), str(token), port=0, ca_pem=operator_tls.ca_cert.read_text())
    answer = _send_through(relay)
    assert answer.status_code == 202
    assert endpoint.received == [(f"Bearer {TOKEN}", BODY)]


@pytest.mark.parametrize(
    ("host", "ca"),
    [("127.0.0.1", "stranger"), ("127.0.0.1", "none"), ("127.0.0.2", "operator")],
    ids=["another-ca", "system-trust-store", "certificate-for-another-address"],
)
def test_a_relay_that_cannot_verify_the_endpoint_sends_nothing(
    operator_tls: ServingTls, stranger_tls: ServingTls, token: Path, host: str, ca: str
) -> None:
    # The server's certificate is signed by the operator's CA and names 127.0.0.1 and localhost only: served at
    # 127.0.0.2 it is the right CA's certificate for another address.
    endpoint = TlsEndpoint(operator_tls, host)
    trusted = {"operator": operator_tls, "stranger": stranger_tls}.get(ca)
    pem = trusted.ca_cert.read_text() if trusted is not None else None
    try:
        answer = _send_through(Relay(endpoint.url(), str(token), port=0, ca_pem=pem))
    finally:
        endpoint.close()
    # The trainer hears "unavailable" (it retries), the endpoint was reached but read no request: the handshake
    # failed on the relay's check before a byte of the report, or of the token, was sent.
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "UNAVAILABLE"
    assert endpoint.connections >= 1
    assert endpoint.received == []


def test_a_plain_http_client_gets_no_answer_from_the_tls_endpoint(endpoint: TlsEndpoint) -> None:
    plain = endpoint.url().replace("https://", "http://", 1)
    with pytest.raises(httpx.HTTPError):
        httpx.post(plain, content=BODY, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert endpoint.received == []


@pytest.mark.parametrize(
    ("url", "pem", "named"),
    [
        ("http://operator:8082/v1/reports", "CA", REPORT_URL_ENV),
        ("https://operator:8082/v1/reports", "-----BEGIN CERTIFICATE-----\nnot base64\n", REPORT_CA_ENV),
        ("ftp://operator/v1/reports", None, REPORT_URL_ENV),
    ],
    ids=["ca-with-plain-http", "unusable-ca", "other-scheme"],
)
def test_a_url_and_ca_that_do_not_fit_are_refused_naming_the_variable(
    url: str, pem: str | None, named: str
) -> None:
    with pytest.raises(RelayConfigError, match=f"\\${named}"):
        upstream_tls(url, "-----BEGIN CERTIFICATE-----\n" if pem == "CA" else pem)
