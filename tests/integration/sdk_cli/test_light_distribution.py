"""The light ``tensorone-sdk`` distribution as a user installs it: built from sdks/python into a fresh venv.

The platform (sandbox + facade) runs in the test's own environment; the client runs in the fresh venv as a
subprocess, with no ``PYTHONPATH`` into this checkout, so only what the wheel installed can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.facade.harness import Account, Cluster

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
PLATFORM_DISTRIBUTIONS = {"kopf", "fastapi", "uvicorn", "kubernetes", "kmock", "torch"}

CREATE = """
import json
from tensorone import TensorOneClient
client = TensorOneClient()
dataset = client.datasets.create("light", "jsonl", "/datasets/light.jsonl")
job = client.training.jobs.create(name="light-job", model_type="llm", dataset_id=dataset.id,
                                  config={"baseModel": "gpt2"}, gpu_type="a100")
print(json.dumps({"job": job.id, "status": job.status}))
"""

WAIT = """
import asyncio, json, sys
from tensorone import AsyncTensorOneClient, TensorOneClient
seen = []
final = TensorOneClient().training.jobs.wait(
    sys.argv[1], on_progress=lambda job: seen.append(job.status), poll_interval=0.1, timeout=60)

async def every_job():
    async with AsyncTensorOneClient() as client:
        return [job.id async for job in client.training.jobs.list_all(page_size=1)]

print(json.dumps({"status": final.status, "percentage": final.progress.percentage,
                  "loss": final.metrics.current_loss, "seen": seen, "listed": asyncio.run(every_job())}))
"""

WHAT_IS_THERE = """
import importlib.metadata, importlib.util, json, sys
import tensorone
from tensorone import AsyncTensorOneClient, TensorOneClient
import tensorone.sdk
sdk_pulls = sorted(name for name in ("typer", "rich", "yaml") if name in sys.modules)
print(json.dumps({
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "tensorone": tensorone.__file__,
    "modules": {m: importlib.util.find_spec(m) is not None
                for m in ("tensorone.sdk", "tensorone.api.rest", "tensorone.cli.jobs", "tensorone.facade",
                          "tensorone.controller", "tensorone.sandbox", "tensorone.cli.platform")},
    "sdk_pulls": sdk_pulls,
}))
"""


def _run(args: list[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


class LightVenv:
    def __init__(self, root: Path):
        self.root = root
        self.python = root / "bin" / "python"
        self.tensorone = root / "bin" / "tensorone"

    def env(self, **extra: str) -> dict[str, str]:
        # Nothing from this checkout: no PYTHONPATH, no virtual env of the platform.
        keep = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
        return {**keep, **extra}

    def python_json(self, script: str, *args: str, **env: str) -> Any:
        return json.loads(_run([self.python, "-c", script, *args], env=self.env(**env), cwd=self.root))


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    """sdks/python built into a wheel (as ``pip wheel`` does for a user) and installed, with [cli], into a
    fresh venv."""
    tmp = tmp_path_factory.mktemp("light-sdk")
    # A copy of sdks/python beside a link to operator/, so the build's own files stay out of the checkout.
    checkout = tmp / "checkout"
    shutil.copytree(
        REPO / "sdks" / "python",
        checkout / "sdks" / "python",
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    (checkout / "operator").symlink_to(REPO / "operator")
    dist = tmp / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            dist,
            checkout / "sdks" / "python",
        ]
    )
    (wheel,) = dist.glob("tensorone_sdk-*.whl")
    venv = LightVenv(tmp / "venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv.root])
    _run([sys.executable, "-m", "pip", "--python", venv.python, "install", "--quiet", f"{wheel}[cli]"])
    return venv


def test_the_light_sdk_installs_none_of_the_platform(light: LightVenv) -> None:
    there = light.python_json(WHAT_IS_THERE)
    assert Path(there["tensorone"]).is_relative_to(light.root)  # the wheel's copy, not this checkout
    assert PLATFORM_DISTRIBUTIONS.isdisjoint(there["distributions"]), there["distributions"]
    assert {"tensorone-sdk", "httpx", "pydantic", "typer", "rich"} <= set(there["distributions"])
    assert there["modules"] == {
        "tensorone.sdk": True, "tensorone.api.rest": True, "tensorone.cli.jobs": True,
        "tensorone.facade": False, "tensorone.controller": False, "tensorone.sandbox": False,
        "tensorone.cli.platform": False,
    }  # fmt: skip
    assert there["sdk_pulls"] == []  # the SDK alone needs none of the CLI's dependencies


def test_the_light_cli_has_the_client_commands_only(light: LightVenv) -> None:
    usage = _run([light.tensorone, "--help"], env=light.env(COLUMNS="200"))
    commands = {
        line.split()[1] for line in usage.splitlines() if line.startswith("│ ") and len(line.split()) > 2
    }
    assert {"jobs", "datasets", "validate"} <= commands
    assert commands.isdisjoint({"sandbox", "operator", "serve", "keys"})


def test_the_light_cli_validates_a_job_file_as_the_platform_does(light: LightVenv) -> None:
    job_file = REPO / "examples" / "llm-lora-job.yaml"
    offline = _run([light.tensorone, "validate", job_file], env=light.env(COLUMNS="200"))
    platform = _run(
        [sys.executable, "-m", "tensorone", "validate", job_file], env={**os.environ, "COLUMNS": "200"}
    )
    assert offline.startswith("valid")
    assert offline == platform  # the packaged GPU catalog and prices came along


def test_the_light_sdk_and_cli_drive_the_platform(light: LightVenv, alice: Account, cluster: Cluster) -> None:
    url = alice.api.base_url
    settings = {"TENSORONE_API_KEY": alice.key, "TENSORONE_BASE_URL": str(url).rstrip("/")}
    created = light.python_json(CREATE, **settings)
    job_id = created["job"]
    seen_by_rest = alice.api.get(f"/v2/training/jobs/{job_id}")
    assert seen_by_rest.status_code == 200
    assert seen_by_rest.json()["name"] == "light-job"

    cluster.set_status(
        alice.namespace, job_id,
        {"phase": "completed", "progress": {"percentage": 100.0}, "metrics": {"currentLoss": 0.5}},
    )  # fmt: skip
    waited = light.python_json(WAIT, job_id, **settings)
    assert (waited["status"], waited["percentage"], waited["loss"]) == ("completed", 100.0, 0.5)
    assert waited["seen"] == ["completed"]
    assert waited["listed"] == [job_id]

    shown = _run([light.tensorone, "jobs", "get", job_id, "-o", "json"], env=light.env(**settings))
    assert json.loads(shown)["status"] == "completed"
