"""A finished LoRA job's adapter, downloaded through REST, the SDK and the CLI, loads with peft.

The facade and the operator run as the chart's ServiceAccounts (as ``tensorone sandbox up --with-facade`` runs
them), so the download works with exactly the permissions the chart grants: the reader pod it starts and the
API server's pod proxy it streams through.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tensorone.api import names
from tensorone.controller.settings import OperatorSettings
from tensorone.facade.settings import ENV_PREFIX
from tensorone.facade.testing import bootstrap_key
from tensorone.sandbox.components import Components
from tensorone.sandbox.runtime import Sandbox
from tensorone.sandbox.testing import RunningSandbox, running_sandbox
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import ArtifactNotFoundError, ConfigurationError, JobNotFoundError

from .conftest import NAMESPACE, learnable_records, lora_config, until, write_operator_settings

DATASETS = "/datasets"


@dataclass
class ChartPlatform:
    sandbox: RunningSandbox
    url: str
    key: str
    client: TensorOneClient

    @property
    def dataset_volume(self) -> Path:
        return self.sandbox.dir / "volumes" / NAMESPACE / "datasets"


# Short enough to see an idle reader exit and the next download start a new one.
READER_IDLE_SECONDS = 4


@pytest.fixture
def chart_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChartPlatform]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(
        f"{ENV_PREFIX}READER_IDLE_SECONDS", str(READER_IDLE_SECONDS)
    )  # the facade's environment
    with running_sandbox(tmp_path / "sandbox", gpus="a100=2") as sandbox:
        sandbox.install_product_crds()
        settings = tmp_path / "operator.yaml"
        write_operator_settings(settings, sandbox)
        components: dict[str, Components] = {}

        async def start(sb: Sandbox) -> None:
            parts = components["parts"] = Components(sb)
            await parts.install_identities()
            await parts.start_operator(settings)
            await parts.start_facade()

        async def stop(_: Sandbox) -> None:
            await components["parts"].stop()

        sandbox.run(start)
        try:
            url = (sandbox.dir / "api-url").read_text().strip()
            key = (sandbox.dir / "api-key").read_text().strip()
            with TensorOneClient(api_key=key, base_url=url, timeout=60) as client:
                yield ChartPlatform(sandbox, url, key, client)
        finally:
            sandbox.run(stop)


def put_assets(platform: ChartPlatform, tiny_model: Path) -> tuple[str, str]:
    import shutil

    target = platform.dataset_volume / "models" / "tiny-llama"
    shutil.copytree(tiny_model, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    data = platform.dataset_volume / "text" / "train.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"text": r}) + "\n" for r in learnable_records(16)), encoding="utf-8")
    return f"{DATASETS}/models/tiny-llama", f"{DATASETS}/text/train.jsonl"


def cli(platform: ChartPlatform, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TENSORONE_BASE_URL": platform.url, "TENSORONE_API_KEY": key or platform.key}
    return subprocess.run([sys.executable, "-m", "tensorone", *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)  # fmt: skip


def test_a_finished_jobs_adapter_downloads_and_loads_and_stays_the_accounts_own(
    chart_platform: ChartPlatform, tiny_model: Path, tmp_path: Path
) -> None:
    platform, client = chart_platform, chart_platform.client
    model, data = put_assets(platform, tiny_model)
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    job = client.training.jobs.create(name="zen-lora", model_type="llm", dataset_id=dataset.id, gpu_type="a100",
                                      config=lora_config(model, epochs=1))  # fmt: skip

    # Before the job has finished there is nothing to download, and the answer says why.
    early = httpx.get(f"{platform.url}/v2/training/jobs/{job.id}/artifacts/adapter",
                      headers={"Authorization": f"Bearer {platform.key}"}, timeout=60)  # fmt: skip
    if early.status_code != 200:  # a very fast run may already be done
        assert early.status_code == 409, early.text
        assert early.json()["error"] == "INVALID_STATE"
        assert early.json()["details"]["status"] in {"pending", "running"}

    final = client.training.jobs.wait(job.id, timeout=300)
    assert final.status == "completed", final.error
    (listed,) = [a for a in final.artifacts if a.name == "adapter"]
    # Where the workers see it (the sandbox mounts the checkpoint volume where the pod says, as a kubelet does).
    job_name = job.id.replace("_", "-")
    assert listed.path == names.artifacts_dir(
        OperatorSettings().checkpoint_mount_path, NAMESPACE, job_name
    ) + ("/adapter")

    # REST: the folder as a tar stream, holding what the trainer wrote.
    response = httpx.get(f"{platform.url}/v2/training/jobs/{job.id}/artifacts/adapter",
                         headers={"Authorization": f"Bearer {platform.key}"}, timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    assert 'filename="adapter.tar"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        files = {m.name: m.size for m in tar.getmembers() if m.isfile()}
    assert "adapter/adapter_config.json" in files
    assert "adapter/adapter_model.safetensors" in files
    assert sum(files.values()) == listed.size_bytes

    # The reader exits when idle; the next download starts a new one.
    reader = f"/api/v1/namespaces/{NAMESPACE}/pods/{names.artifact_reader_pod_name(job_name)}"
    with platform.sandbox.http() as kube:
        until("the idle reader to exit", lambda: kube.get(reader).json()["status"].get("phase") == "Succeeded",
              timeout=READER_IDLE_SECONDS + 30)  # fmt: skip

    # SDK: unpacked into a folder, and peft loads it onto the base model.
    saved = client.training.jobs.download_artifact(job.id, "adapter", to=tmp_path / "sdk-adapter")
    assert json.loads((saved / "adapter_config.json").read_text())["r"] == 4
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    tuned = PeftModel.from_pretrained(base, str(saved))
    assert any("lora_A" in name for name, _ in tuned.named_parameters())

    # CLI: by the job's name, into -o.
    done = cli(platform, "jobs", "download", "zen-lora", "adapter", "-o", str(tmp_path / "cli-adapter"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli-adapter" / "adapter_model.safetensors").read_bytes() == (
        saved / "adapter_model.safetensors"
    ).read_bytes()

    # An artifact the job does not have: 404 naming it; a malformed name: refused on the field.
    with pytest.raises(ArtifactNotFoundError) as missing:
        client.training.jobs.download_artifact(job.id, "merged", to=tmp_path / "merged")
    assert missing.value.details["artifact"] == "merged"
    assert missing.value.details["availableArtifacts"] == ["adapter"]
    with pytest.raises(ConfigurationError) as malformed:
        client.training.jobs.download_artifact(job.id, "..adapter", to=tmp_path / "bad")
    assert malformed.value.details["field"] == "name"
    refused = cli(platform, "jobs", "download", job.id, "Adapter")
    assert refused.returncode == 2, refused.stdout + refused.stderr

    # Another account: the job does not exist for it (404, never 403), through the SDK and the CLI.
    other_key = bootstrap_key(str(platform.sandbox.kubeconfig_path), "other")
    with (
        TensorOneClient(api_key=other_key, base_url=platform.url, timeout=60) as other,
        pytest.raises(JobNotFoundError),
    ):
        other.training.jobs.download_artifact(job.id, "adapter", to=tmp_path / "stolen")
    assert cli(platform, "jobs", "download", job.id, "adapter", "-o", str(tmp_path / "stolen"),
               key=other_key).returncode == 3  # fmt: skip
    assert not (tmp_path / "stolen").exists()
