"""A self-signed serving certificate, so in-pod clients can use the standard in-cluster configuration.

In a cluster, pods reach the API at ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` and trust
``/var/run/secrets/kubernetes.io/serviceaccount/ca.crt``; the kubernetes client's ``load_incluster_config``
insists on https. The sandbox therefore also serves the API over TLS for pod processes, with a certificate made
by the ``openssl`` command (no extra Python dependency). One certificate serves every sandbox of the user
(``~/.cache/tensorone-sandbox/tls``), so the machine-wide service-account directory written by the node agent
(see :mod:`.environment`) holds a ``ca.crt`` that is right for all of them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import ssl
import subprocess
from pathlib import Path


def default_directory() -> Path:
    """Where the shared sandbox certificate lives."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tensorone-sandbox" / "tls"


def ensure_certificate(directory: Path | None = None) -> tuple[Path, Path] | None:
    """Create (once, under a lock) a certificate for 127.0.0.1/localhost; None when ``openssl`` is unavailable."""
    directory = directory or default_directory()
    cert = directory / "tls.crt"
    key = directory / "tls.key"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert.exists() and key.exists():
            return cert, key
        return _generate(cert, key)


def _generate(cert: Path, key: Path) -> tuple[Path, Path] | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "365",
            "-subj",
            "/CN=tensorone-sandbox",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc",
        ],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        return None
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The TLS context the API server listens with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context
