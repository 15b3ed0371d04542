"""What a person sees of the platform through Kubernetes itself: kubectl against the real API server, two
distributed jobs at once on their own pod networks, worker logs through the API server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tensorone.api.spec import TRAINING_JOB_PLURAL

from .conftest import NAMESPACE, Platform, learnable_records, lora_config, put_language_assets

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def kubectl(platform: Platform, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(platform.sandbox.kubeconfig_path), "-n", NAMESPACE, *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_two_distributed_jobs_train_at_once_and_kubectl_follows_them(
    platform: Platform, tiny_model: Path
) -> None:
    model, data = put_language_assets(platform, tiny_model, learnable_records(48))
    client = platform.client
    dataset = client.datasets.create(name="zen", format="jsonl", source=data)
    jobs = [
        client.training.jobs.create(
            name=f"pair-{i}",
            model_type="llm",
            dataset_id=dataset.id,
            gpu_type="a100",
            max_workers=2,
            config=lora_config(model, epochs=2),
        )
        for i in range(2)
    ]
    names = [job.id.replace("_", "-") for job in jobs]
    # Started before either ends: kubectl's wait (a watch, on kubectl 1.37 a watch-list) returns on completion.
    waits = [
        subprocess.Popen(
            [
                KUBECTL,
                "--kubeconfig",
                str(platform.sandbox.kubeconfig_path),
                "-n",
                NAMESPACE,
                "wait",
                "--for=jsonpath={.status.phase}=completed",
                f"{TRAINING_JOB_PLURAL}/{name}",
                "--timeout=300s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    running = [
        platform.wait_job(job.id, lambda j: j.status in {"running", "failed"}, "running") for job in jobs
    ]
    assert [j.status for j in running] == ["running", "running"], [j.error for j in running]
    # Both jobs' workers at once, each pod with its own address; worker 0 of each listens on the same port.
    pods = [pod for job in jobs for pod in platform.pods(job.id)]
    addresses = [pod["status"].get("podIP") for pod in pods]
    assert len(pods) == 4
    assert len(set(addresses)) == 4
    assert all(
        address and address != pod["status"]["hostIP"] for address, pod in zip(addresses, pods, strict=True)
    )

    # A worker's log read through the API server (kubectl -> kube-apiserver -> our kubelet's endpoint), while it runs.
    worker = f"{names[0]}-worker-1"
    platform.wait_job(
        jobs[0].id,
        lambda _: kubectl(platform, "logs", worker).stdout.strip() != "",
        "worker 1's log",
        timeout=120,
    )

    finals = [platform.wait_finished(job.id, timeout=400) for job in jobs]
    assert [f.status for f in finals] == ["completed", "completed"], [f.error for f in finals]
    for wait in waits:
        out, err = wait.communicate(timeout=60)
        assert wait.returncode == 0, err
        assert "condition met" in out

    table = kubectl(platform, "get", "tj")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    columns = ["NAME", "DISPLAY NAME", "STATUS", "PROGRESS", "LOSS", "GPU", "WORKERS", "COST", "AGE"]
    assert [header.find(c) for c in columns] == sorted(header.find(c) for c in columns)
    assert -1 not in [header.find(c) for c in columns]
    rows = {line.split()[0]: line.split() for line in lines}
    for name, job in zip(names, jobs, strict=True):
        assert rows[name][1:4] == [job.name, "completed", "100%"]
