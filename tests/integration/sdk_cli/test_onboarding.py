"""``tensorone sandbox up --with-facade`` tells a person what to export, and those exports work as printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tensorone.api.accounts import SANDBOX_ACCOUNT, account_namespace
from tests.integration.facade.harness import KUBECTL

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """The sandbox directory and the lines `sandbox up` printed up to its stop hint."""
    directory = tmp_path_factory.mktemp("onboarding") / "sb"
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorone", "sandbox", "up", "--dir", str(directory), "--with-facade"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Stop it with"):
                break
        assert lines, "sandbox up printed nothing"
        assert lines[0].startswith("ready "), lines
        yield directory, lines
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _shell(exports: list[str], command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a fresh bash that only has what the person pasted (and the venv on PATH)."""
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    script = "\n".join([*exports, command])
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _exports(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip().startswith("export ")]


def test_the_printed_exports_let_the_cli_and_kubectl_reach_the_platform(
    printed: tuple[Path, list[str]],
) -> None:
    directory, lines = printed
    exports = _exports(lines)
    assert [e.split("=", 1)[0] for e in exports] == [
        "export KUBECONFIG",
        "export TENSORONE_BASE_URL",
        "export TENSORONE_API_KEY",
    ]
    assert f"$(cat {(directory / 'api-key').resolve()})" in exports[2]
    listed = _shell(exports, "tensorone jobs list -o json")
    assert listed.returncode == 0, listed.stderr
    assert '"jobs": []' in listed.stdout
    nodes = _shell(exports, f"{KUBECTL} get nodes -o name")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.startswith("node/")


def test_the_kubeconfig_context_is_the_account_namespace(printed: tuple[Path, list[str]]) -> None:
    _, lines = printed
    shown = _shell(_exports(lines), f"{KUBECTL} config view --minify -o jsonpath='{{..namespace}}'")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == account_namespace(SANDBOX_ACCOUNT)


def test_the_ready_line_names_the_dashboard_and_it_answers(printed: tuple[Path, list[str]]) -> None:
    _, lines = printed
    fields = dict(part.split("=", 1) for part in lines[0].split() if "=" in part)
    assert fields["ui"] == fields["api"] + "/ui"
    page = httpx.get(fields["ui"], follow_redirects=True, timeout=30)
    assert page.status_code == 200
    assert '<script type="module" src="/ui/assets/app.js">' in page.text
