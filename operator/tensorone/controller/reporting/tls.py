"""The report endpoint's TLS: its server context, kept up to date with the certificate files.

cert-manager (or anyone) renews a serving certificate by replacing the mounted files; the kubelet swaps a Secret
volume's files in place. The operator checks their modification times and loads a renewed pair into the same
context, which new connections then use, so a renewal needs no restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

log = logging.getLogger(__name__)


class ServingCertificate:
    """A TLS server context (TLS 1.2 at least) with the certificate chain in ``cert_file`` and its key."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._loaded = self._stamp()
        self.context.load_cert_chain(cert_file, key_file)

    def _stamp(self) -> tuple[float, float]:
        return os.stat(self.cert_file).st_mtime, os.stat(self.key_file).st_mtime

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed since the last load; True when it did. A pair that cannot be
        loaded (half written, say) leaves the previous one in use and is tried again next time."""
        try:
            stamp = self._stamp()
            if stamp == self._loaded:
                return False
            # Tried on a scratch context first: a failed load can leave a context with the new certificate and no
            # key, which would fail every handshake.
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert_file, self.key_file)
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as e:
            log.warning("cannot load the report endpoint's renewed certificate yet: %s", type(e).__name__)
            return False
        self._loaded = stamp
        log.info("report endpoint: loaded its renewed certificate")
        return True

    async def keep_fresh(self, interval: float = 60.0) -> None:
        """Check for renewed files every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.reload_if_changed()
