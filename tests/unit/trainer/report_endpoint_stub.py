"""A stand-in for the operator's report endpoint, for the relay's tests: a real local HTTP(S) server that records
every request it reads (path, Authorization, body) and every connection it accepts."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tensorone.api.reporting import report_url
from tensorone.sandbox.pki import ServingTls


class ReportEndpointStub:
    """Answers with the queued (status, body) pairs first, then 202; over HTTPS with ``tls``'s certificate."""

    def __init__(self, tls: ServingTls | None = None, host: str = "127.0.0.1") -> None:
        self.received: list[tuple[str, str | None, bytes]] = []
        self.answers: list[tuple[int, bytes]] = []
        self.connections = 0
        self.failed_handshakes = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stub.received.append((self.path, self.headers.get("Authorization"), body))
                code, answer = stub.answers.pop(0) if stub.answers else (202, b'{"accepted": true}')
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, Any]:
                raw, address = self.socket.accept()
                stub.connections += 1
                if context is None:
                    return raw, address
                try:
                    return context.wrap_socket(raw, server_side=True), address
                except (ssl.SSLError, OSError):
                    stub.failed_handshakes += 1
                    raw.close()
                    raise

        self.server = Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = report_url(host, self.server.server_address[1], tls=tls is not None)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
