"""The ``tensorone`` CLI against the facade: output formats, exit codes, and ``watch`` without a terminal."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tensorone.cli.main import app
from tests.integration.facade.harness import Account, Cluster, shape_a

runner = CliRunner()


def test_create_list_get_stop_delete(env: Account, cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    job_file = tmp_path / "job.yaml"
    job_file.write_text(yaml.safe_dump(shape_a(env.dataset())))
    created = runner.invoke(app, ["jobs", "create", "-f", str(job_file), "-o", "json"])
    assert created.exit_code == 0, created.output
    job_id = json.loads(created.output)["id"]
    listed = runner.invoke(app, ["jobs", "list"])
    assert job_id in listed.output
    assert "pending" in listed.output
    got = yaml.safe_load(runner.invoke(app, ["jobs", "get", job_id, "-o", "yaml"]).output)
    assert (got["id"], got["status"]) == (job_id, "pending")
    stopped = runner.invoke(app, ["jobs", "stop", job_id])
    assert (stopped.exit_code, stopped.output.strip()) == (0, f"{job_id} stopping")
    again = runner.invoke(app, ["jobs", "resume", job_id])
    assert again.exit_code == 5
    assert "INVALID_STATE" in again.output
    assert runner.invoke(app, ["jobs", "delete", job_id]).exit_code == 0
    missing = runner.invoke(app, ["jobs", "get", job_id])
    assert missing.exit_code == 3
    assert "JOB_NOT_FOUND" in missing.output


def test_invalid_job_file_exits_2_naming_the_field(env: Account, tmp_path) -> None:  # type: ignore[no-untyped-def]
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(shape_a(env.dataset(), maxWorkers=99)))
    result = runner.invoke(app, ["jobs", "create", "-f", str(job_file)])
    assert result.exit_code == 2
    assert "maxWorkers" in result.output


def test_bad_key_exits_4(env: Account) -> None:
    assert runner.invoke(app, ["jobs", "list", "--api-key", "t1_wrong"]).exit_code == 4


# A failed job also prints why (test_cli_journey.py).
@pytest.mark.parametrize(("phase", "code"), [("completed", 0), ("stopped", 8)])
def test_watch_renders_plain_lines_without_a_terminal(
    env: Account, cluster: Cluster, phase: str, code: int
) -> None:
    job_id = env.job()
    cluster.set_status(
        env.namespace, job_id,
        {"phase": phase, "progress": {"percentage": 100.0, "currentEpoch": 3, "totalEpochs": 3, "currentStep": 30,
                                      "totalSteps": 30, "remainingTime": 0.0},
         "metrics": {"currentLoss": 0.5, "throughput": "1250 tokens/sec"}, "resourceUsage": {"cost": 1.25}},
    )  # fmt: skip
    result = runner.invoke(app, ["jobs", "watch", job_id, "--interval", "0.1"])
    assert result.exit_code == code, result.output
    assert result.output.strip() == (
        f"{phase} 100.0% epoch 3/3 step 30/30 loss 0.5000 1250 tokens/sec eta 0s cost $1.25"
    )


def test_logs_and_datasets(env: Account, cluster: Cluster) -> None:
    job_id = env.job()
    name = job_id.replace("_", "-")
    kept = {"metadata": {"name": f"{name}-logs"}, "data": {"worker-0.log": "hello\nworld\n"}}
    cluster.http.post(f"/api/v1/namespaces/{env.namespace}/configmaps", json=kept).raise_for_status()
    assert runner.invoke(app, ["jobs", "logs", job_id, "-f"]).output == "hello\nworld\n"
    assert runner.invoke(app, ["jobs", "logs", job_id, "--tail", "1"]).output == "world\n"
    created = runner.invoke(
        app, ["datasets", "create", "--name", "d", "--format", "csv", "--source", "/datasets/d.csv"]
    )
    dataset_id = created.output.strip()
    assert dataset_id.startswith("ds_")
    assert dataset_id in runner.invoke(app, ["datasets", "list"]).output
    assert runner.invoke(app, ["datasets", "delete", dataset_id]).exit_code == 0
    assert runner.invoke(app, ["datasets", "get", dataset_id]).exit_code == 3
