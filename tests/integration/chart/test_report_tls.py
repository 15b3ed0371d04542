"""The report endpoint's generated certificate, installed and upgraded with the real Helm engine against the sandbox:
``lookup`` keeps it across upgrades (running workers keep trusting the endpoint), and names added later get a new
serving certificate from the same CA."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tests.integration.chart.install import SYSTEM_NS, kubectl
from tests.unit.chart.rendering import CHART_DIR, RELEASE

# Nothing of the release needs to run here: its pods stay Pending on a node label no node has. The sandbox has its
# own PriorityClasses.
NOWHERE = {"tensorone.test/nowhere": "true"}
VALUES: dict[str, Any] = {
    "crds": {"install": False},
    "priorityClasses": {"create": False},
    "apiKeys": {"admin": {"create": False}},
    "facade": {"enabled": False},
    "networkPolicy": {"enabled": False},
    "operator": {"nodeSelector": NOWHERE},
}


def _secret(sandbox: RunningSandbox, directory: Path) -> dict[str, bytes]:
    name = f"{RELEASE}-tensorone-training-report-tls"
    for key in ("tls.crt", "ca.crt"):
        field = key.replace(".", "\\.")
        encoded = kubectl(
            sandbox, "get", "secret", name, "-n", SYSTEM_NS, "-o", f"jsonpath={{.data.{field}}}"
        )
        (directory / key).write_bytes(base64.b64decode(encoded))
    return {key: (directory / key).read_bytes() for key in ("tls.crt", "ca.crt")}


def _verifies(directory: Path, host: str) -> bool:
    """Whether a client trusting ca.crt accepts tls.crt for ``host`` (what the workers' relays check)."""
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(directory / "ca.crt"),
            "-verify_hostname",
            host,
            str(directory / "tls.crt"),
        ],
        capture_output=True,
    )
    return result.returncode == 0


def _chart_for_the_sandbox(directory: Path) -> helm.Chart:
    """The chart as it is, but for its ``kubeVersion`` floor: the sandbox's API server is v1.20, and what is
    checked here (``lookup`` and the certificate functions) is Helm's, not the API server's."""
    copy = directory / "chart"
    shutil.copytree(CHART_DIR, copy)
    manifest = copy / "Chart.yaml"
    manifest.write_text(re.sub(r"(?m)^kubeVersion:.*\n", "", manifest.read_text()))
    return helm.Chart.load(copy)


@pytest.fixture
def helm_on_sandbox(tmp_path: Path) -> Iterator[tuple[RunningSandbox, helm.Config]]:
    with running_sandbox(tmp_path / "sandbox", gpus="a100=1") as sandbox:
        config = helm.Config(kubeconfig_path=sandbox.kubeconfig_path, namespace=SYSTEM_NS)
        try:
            yield sandbox, config
        finally:
            config.close()


def test_upgrades_keep_the_report_certificate_and_new_names_keep_its_ca(
    helm_on_sandbox: tuple[RunningSandbox, helm.Config], tmp_path: Path
) -> None:
    sandbox, config = helm_on_sandbox
    chart = _chart_for_the_sandbox(tmp_path)
    service = f"{RELEASE}-tensorone-training-operator-reports.{SYSTEM_NS}.svc"
    config.install(chart, RELEASE, VALUES, namespace=SYSTEM_NS, create_namespace=True)
    installed = _secret(sandbox, tmp_path)
    assert _verifies(tmp_path, service)

    config.upgrade(chart, RELEASE, VALUES, namespace=SYSTEM_NS)
    assert _secret(sandbox, tmp_path) == installed

    with_name = {
        **VALUES,
        "operator": {**VALUES["operator"], "reportTls": {"extraDnsNames": ["reports.example"]}},
    }
    assert not _verifies(tmp_path, "reports.example")
    config.upgrade(chart, RELEASE, with_name, namespace=SYSTEM_NS)
    renamed = _secret(sandbox, tmp_path)
    assert renamed["ca.crt"] == installed["ca.crt"]  # workers already running still trust the endpoint
    assert renamed["tls.crt"] != installed["tls.crt"]
    assert _verifies(tmp_path, "reports.example")
    assert _verifies(tmp_path, service)
