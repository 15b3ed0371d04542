"""The report endpoint's TLS: it takes a renewed certificate without a restart (cert-manager replaces the Secret's
files), and says so at start when it has none.

A real TLS server on the loopback serves with :class:`ServingCertificate`'s context; clients verify it as the
workers' relays do (chain and address).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tensorone.controller.kube import Connection, KubeClient
from tensorone.controller.reporting.directory import JobDirectory
from tensorone.controller.reporting.server import start_report_server
from tensorone.controller.reporting.tls import ServingCertificate
from tensorone.sandbox.pki import ServingTls, create_serving_tls


def _issue(directory: Path) -> ServingTls:
    return create_serving_tls(directory, common_name="report-endpoint", ips=["127.0.0.1"], dns_names=[])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ServingCertificate, int, Path]]:
    first = _issue(tmp_path / "first")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for name in ("tls.crt", "tls.key"):
        shutil.copy(first.directory / name, mounted / name)
    certificate = ServingCertificate(str(mounted / "tls.crt"), str(mounted / "tls.key"))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=certificate.context)
    port = server.sockets[0].getsockname()[1]
    yield certificate, port, tmp_path
    server.close()
    await server.wait_closed()


async def _trusted_by(ca: ServingTls, port: int) -> bool:
    client = ssl.create_default_context(cafile=str(ca.ca_cert))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    except ssl.SSLCertVerificationError:
        return False
    answer = await reader.read()
    writer.close()
    return answer == b"ok"


def _replace(mounted: Path, issued: ServingTls, *names: str) -> None:
    for name in names:
        shutil.copy(issued.directory / name, mounted / name)
        later = os.stat(mounted / name).st_mtime + 5  # as a swapped Secret volume file: another mtime
        os.utime(mounted / name, (later, later))


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    served: tuple[ServingCertificate, int, Path],
) -> None:
    certificate, port, tmp_path = served
    first = ServingTls(tmp_path / "first")
    renewed = _issue(tmp_path / "renewed")  # another CA too, so the clients can tell the two apart
    assert await _trusted_by(first, port)
    assert not certificate.reload_if_changed()  # nothing changed

    _replace(tmp_path / "mounted", renewed, "tls.crt", "tls.key")
    assert certificate.reload_if_changed()
    assert await _trusted_by(renewed, port)
    assert not await _trusted_by(first, port)


async def test_a_half_replaced_pair_keeps_the_previous_certificate_in_use(
    served: tuple[ServingCertificate, int, Path],
) -> None:
    certificate, port, tmp_path = served
    renewed = _issue(tmp_path / "renewed")
    _replace(tmp_path / "mounted", renewed, "tls.crt")  # the new certificate, the old key: they do not match
    assert not certificate.reload_if_changed()
    assert await _trusted_by(ServingTls(tmp_path / "first"), port)
    _replace(tmp_path / "mounted", renewed, "tls.key")  # the rest arrives: taken at the next check
    assert certificate.reload_if_changed()
    assert await _trusted_by(renewed, port)


async def test_the_endpoint_warns_at_start_only_when_it_serves_plain_http(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issued = _issue(tmp_path / "tls")
    client = KubeClient(Connection(server="http://127.0.0.1:9", token="x"))  # never called: no report is sent
    try:
        for certificate in (None, ServingCertificate(str(issued.cert), str(issued.key))):
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="tensorone.controller.reporting.server"):
                runner, _ = await start_report_server(
                    client,
                    JobDirectory(),
                    "127.0.0.1",
                    _free_port(),
                    write_interval=1.0,
                    tls=None if certificate is None else certificate.context,
                )
            await runner.cleanup()
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            if certificate is None:
                (warning,) = warnings
                assert "plain HTTP" in warning
            else:
                assert warnings == []
                assert any("HTTPS" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
