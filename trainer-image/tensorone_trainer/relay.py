"""The reporting relay: a worker pod's only holder of the reporting token (``python -m tensorone_trainer.relay``).

User code runs in the trainer container, so that container mounts no token. This process runs in a container of
its own, as another uid, with the token's volume; it listens on the pod's loopback interface, takes the trainer's
reports there (``POST`` :data:`~tensorone.api.reporting.REPORTS_PATH`) and forwards each, body unchanged, to the
operator's endpoint with the token read anew (the kubelet rotates it), answering with the endpoint's answer so the
trainer's retries work as before. Anything in the pod may send it a report, but a report is only ever its own
job's progress and metrics, which the endpoint validates like any other; the token never leaves this process
except to the endpoint: over ``https`` the relay verifies the endpoint's certificate (and name) against the CA in
:data:`~tensorone.api.reporting.REPORT_CA_ENV`, or the system's trust store without one, and sends nothing to an
endpoint it cannot verify. It never skips verification.

The relay ends once the trainer has: while it runs, the trainer holds the abstract socket
:data:`~tensorone.api.relay.TRAINER_ALIVE_ADDRESS` (see :mod:`tensorone_trainer.alive`). On SIGTERM (stop)
the relay keeps forwarding until the trainer's last report has gone through or the trainer is gone, so the
checkpoint written on the way out still reaches the status.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import FrameType
from urllib.parse import urlsplit

import httpx

from tensorone.api.relay import REPORT_RELAY_PORT
from tensorone.api.reporting import (
    MAX_REPORT_BYTES,
    REPORT_CA_ENV,
    REPORT_TOKEN_ENV,
    REPORT_TOKEN_PATH,
    REPORT_URL_ENV,
    REPORTS_PATH,
)
from tensorone_trainer.alive import trainer_alive

log = logging.getLogger("tensorone_trainer.relay")

POLL_SECONDS = 0.25
# An oversize report up to this size is read and dropped before the 413 (loopback: cheap); a larger one is cut off.
MAX_DRAINED_BYTES = 64 * 1024 * 1024


def _discard(stream: BufferedIOBase, length: int) -> None:
    while length > 0:
        chunk = stream.read(min(length, 1 << 20))
        if not chunk:
            return
        length -= len(chunk)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _is_final(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("final") is True


class RelayConfigError(ValueError):
    """The endpoint's URL and CA do not fit together; the message names the variable, never its value."""


def upstream_tls(upstream: str, ca_pem: str | None) -> ssl.SSLContext | None:
    """How the endpoint is verified: for ``https``, a context that checks its certificate chain and host name
    against ``ca_pem`` (the system's trust store without it); None for plain ``http``, which takes no CA (a CA
    given means the operator serves TLS, and the token must not go out in clear text)."""
    scheme = urlsplit(upstream).scheme.lower()
    if scheme == "http":
        if ca_pem:
            raise RelayConfigError(f"${REPORT_CA_ENV} is set but ${REPORT_URL_ENV} is not https")
        return None
    if scheme != "https":
        raise RelayConfigError(f"${REPORT_URL_ENV} is neither http nor https")
    try:
        context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    except (ssl.SSLError, ValueError) as e:
        raise RelayConfigError(f"${REPORT_CA_ENV} holds no usable PEM certificate") from e
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _untrusted(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere in ``error``'s chain (httpx wraps it), if one did."""
    seen: BaseException | None = error
    for _ in range(16):  # a chain is short; a cycle must not hang the relay
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Relay:
    """Forwards reports to ``upstream`` with the token in ``token_path``; serves on ``host:port``. An ``https``
    upstream is verified against ``ca_pem`` (see :func:`upstream_tls`)."""

    def __init__(
        self,
        upstream: str,
        token_path: str,
        host: str = "127.0.0.1",
        port: int = REPORT_RELAY_PORT,
        *,
        ca_pem: str | None = None,
    ):
        self.upstream = upstream
        self.token_path = token_path
        self.final_forwarded = threading.Event()
        self.forwarded = 0
        tls = upstream_tls(upstream, ca_pem)
        # trust_env off: no SSL_CERT_FILE or proxy variable of the pod's may change where the token goes or whom
        # it trusts.
        self._client = httpx.Client(timeout=30.0, verify=tls if tls is not None else True, trust_env=False)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per report would drown the pod's log

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if urlsplit(self.path).path != REPORTS_PATH:
                    self._answer(404, _error_body("NOT_FOUND", f"reports go to {REPORTS_PATH}"))
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self.close_connection = True
                    self._answer(411, _error_body("LENGTH_REQUIRED", "a report needs a Content-Length"))
                    return
                if length < 0 or length > MAX_REPORT_BYTES:
                    self.close_connection = True
                    if length <= MAX_DRAINED_BYTES:
                        # Read what the sender is still sending: closing on unread bytes resets the connection,
                        # and the sender would see a reset instead of the 413.
                        _discard(self.rfile, length)
                    self._answer(
                        413, _error_body("PAYLOAD_TOO_LARGE", f"a report is at most {MAX_REPORT_BYTES} bytes")
                    )
                    return
                status, answer, content_type = relay.forward(self.rfile.read(length))
                self._answer(status, answer, content_type)

            def do_GET(self) -> None:
                self._answer(405, _error_body("METHOD_NOT_ALLOWED", "reports are POSTed"))

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    def _token(self) -> str | None:
        try:
            with open(self.token_path, encoding="utf-8") as handle:
                return handle.read().strip() or None
        except OSError:
            return None

    def forward(self, body: bytes) -> tuple[int, bytes, str]:
        """(status, body, content type) of the endpoint's answer; 503 when it cannot be reached (the trainer
        retries)."""
        token = self._token()
        if token is None:
            return 503, _error_body("UNAVAILABLE", "the relay has no reporting token yet"), "application/json"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        try:
            response = self._client.post(self.upstream, content=body, headers=headers)
        except httpx.HTTPError as e:
            untrusted = _untrusted(e)
            if untrusted is not None:
                # The handshake failed before any request was written: the token did not leave the pod.
                log.warning(
                    "not forwarding reports: the endpoint's certificate is not trusted (%s)",
                    untrusted.verify_message,
                )
            else:
                log.warning("forwarding a report failed: %s", type(e).__name__)
            return (
                503,
                _error_body("UNAVAILABLE", "the report endpoint cannot be reached"),
                "application/json",
            )
        self.forwarded += 1
        if response.status_code < 300 and _is_final(body):
            self.final_forwarded.set()
        return (
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "application/json"),
        )

    def serve(self) -> threading.Thread:
        thread = threading.Thread(target=self.server.serve_forever, name="relay", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def run_until_trainer_ends(
    relay: Relay,
    stopping: threading.Event,
    alive: Callable[[], bool] = trainer_alive,
    poll: float = POLL_SECONDS,
) -> str:
    """Serve until the trainer's last report went through, or the trainer has ended (after it was seen running),
    or a stop came while no trainer runs; returns why."""
    seen = False
    while True:
        if relay.final_forwarded.is_set():
            return "the trainer's last report was forwarded"
        running = alive()
        seen = seen or running
        if seen and not running:
            return "the trainer has ended"
        if stopping.is_set() and not running:
            return "stopped, and no trainer runs"
        time.sleep(poll)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s relay %(levelname)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per forwarded report would drown the log
    upstream = os.environ.get(REPORT_URL_ENV)
    if not upstream:
        log.error("$%s is not set: nothing to relay to", REPORT_URL_ENV)
        return 0  # the trainer trains anyway; the pod's outcome is the trainer's
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()  # keep relaying until the trainer's last report (it checkpoints on the same signal)

    signal.signal(signal.SIGTERM, stop)
    try:
        relay = Relay(
            upstream,
            os.environ.get(REPORT_TOKEN_ENV) or REPORT_TOKEN_PATH,
            ca_pem=os.environ.get(REPORT_CA_ENV) or None,
        )
    except RelayConfigError as e:
        log.error("%s: not relaying", e)
        return 0  # as without a URL: the trainer trains anyway, its reports go nowhere
    relay.serve()
    log.info("relaying reports from port %d", REPORT_RELAY_PORT)
    why = run_until_trainer_ends(relay, stopping)
    log.info("%s; %d reports forwarded", why, relay.forwarded)
    relay.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
