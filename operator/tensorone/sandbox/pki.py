"""The sandbox cluster's certificates and keys, made with the ``openssl`` command (no Python crypto dependency).

A real cluster has a CA that signs the API server's serving certificate, the kubelets' serving certificates and
the client certificate the API server shows kubelets (``kubectl logs`` goes API server -> kubelet), plus a key
pair that signs ServiceAccount tokens. Each sandbox makes its own (elliptic-curve keys: fast to make), in
``DIR/pki`` readable by root only, because pod processes run on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PkiError(RuntimeError):
    """openssl is missing or failed."""


@dataclass(frozen=True)
class Pki:
    """Paths of the sandbox's certificates and keys."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def kubelet_cert(self) -> Path:
        return self.directory / "kubelet.crt"

    @property
    def kubelet_key(self) -> Path:
        return self.directory / "kubelet.key"

    @property
    def kubelet_client_cert(self) -> Path:
        return self.directory / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.directory / "apiserver-kubelet-client.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"


def _openssl(*args: str, stdin: bytes | None = None) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise PkiError("the sandbox needs the openssl command (apt-get install openssl)")
    result = subprocess.run([openssl, *args], input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace').strip()[-400:]}")


def _ec_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def _signed(pki: Pki, name: str, subject: str, *, sans: list[str], usage: str) -> None:
    key = pki.directory / f"{name}.key"
    csr = pki.directory / f"{name}.csr"
    ext = pki.directory / f"{name}.ext"
    _ec_key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    lines.append(f"extendedKeyUsage={usage}")
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
        "-CAcreateserial", "-days", "365", "-sha256", "-extfile", str(ext), "-out", str(pki.directory / f"{name}.crt"),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def _ca(pki: Pki, common_name: str) -> None:
    _ec_key(pki.ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(pki.ca_key), "-subj", f"/CN={common_name}", "-days", "365",
        "-sha256", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", str(pki.ca_cert),
    )  # fmt: skip


@dataclass(frozen=True)
class ServingTls:
    """A CA of its own and one serving certificate it signed (``tls.crt``/``tls.key``, as a Kubernetes TLS
    Secret names them)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def key(self) -> Path:
        return self.directory / "tls.key"


def create_serving_tls(
    directory: Path, *, common_name: str, ips: list[str], dns_names: list[str]
) -> ServingTls:
    """A serving certificate for ``ips``/``dns_names`` under a CA made for it alone (as the chart makes one for the
    operator's report endpoint), so trusting it trusts nothing else of the sandbox's."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    pki = Pki(directory)
    _ca(pki, f"{common_name}-ca")
    sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns_names]
    _signed(pki, "tls", f"/CN={common_name}", sans=sans, usage="serverAuth")
    pki.ca_key.unlink()  # nothing more is signed with it
    (directory / "ca.srl").unlink(missing_ok=True)
    return ServingTls(directory)


def create_pki(directory: Path, *, ips: list[str], dns_names: list[str]) -> Pki:
    """Make a CA, the API server's and kubelets' serving certificates, the kubelet client certificate and the
    ServiceAccount signing key pair; ``ips``/``dns_names`` are the serving certificates' subject alt names."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    pki = Pki(directory)
    _ca(pki, "tensorone-sandbox-ca")
    sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns_names]
    _signed(pki, "apiserver", "/CN=kube-apiserver", sans=sans, usage="serverAuth")
    _signed(pki, "kubelet", "/CN=tensorone-sandbox-kubelet", sans=sans, usage="serverAuth")
    _signed(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        sans=[],
        usage="clientAuth",
    )
    _ec_key(pki.service_account_key)
    _openssl(
        "pkey", "-in", str(pki.service_account_key), "-pubout", "-out", str(pki.service_account_public_key)
    )
    return pki
