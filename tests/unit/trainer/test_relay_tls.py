"""The relay sends the pod's token only to an endpoint whose certificate it verified.

The endpoint is a real local HTTPS server with a certificate from a CA of its own (made as the sandbox makes the
report endpoint's); the relay is the real one, with its real HTTP client. What is checked is what an attacker on
the path would see: whether a request (and with it the token) ever reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tensorone.api.reporting import REPORT_CA_ENV, REPORT_URL_ENV, REPORTS_PATH, report_url
from tensorone.sandbox.pki import ServingTls, create_serving_tls
from tensorone_trainer.relay import Relay, RelayConfigError, upstream_tls
from tests.unit.trainer.report_endpoint_stub import ReportEndpointStub

BODY = b'{"progress": {"currentStep": 3}}'
TOKEN = "eyJpod.token.one"


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
def endpoint(operator_tls: ServingTls) -> Iterator[ReportEndpointStub]:
    served = ReportEndpointStub(operator_tls)
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
    endpoint: ReportEndpointStub, operator_tls: ServingTls, token: Path
) -> None:
    relay = Relay(endpoint.url, str(token), port=0, ca_pem=operator_tls.ca_cert.read_text())
    answer = _send_through(relay)
    assert answer.status_code == 202
    assert endpoint.received == [(REPORTS_PATH, f"Bearer {TOKEN}", BODY)]


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
    endpoint = ReportEndpointStub(operator_tls, host)
    trusted = {"operator": operator_tls, "stranger": stranger_tls}.get(ca)
    pem = trusted.ca_cert.read_text() if trusted is not None else None
    try:
        answer = _send_through(Relay(endpoint.url, str(token), port=0, ca_pem=pem))
    finally:
        endpoint.close()
    # The trainer hears "unavailable" (it retries), the endpoint was reached but read no request: the handshake
    # failed on the relay's check before a byte of the report, or of the token, was sent.
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "UNAVAILABLE"
    assert endpoint.connections >= 1
    assert endpoint.received == []


def test_a_plain_http_client_gets_no_answer_from_the_tls_endpoint(endpoint: ReportEndpointStub) -> None:
    plain = endpoint.url.replace("https://", "http://", 1)
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
