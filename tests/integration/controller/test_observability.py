"""What a platform team watches: Prometheus metrics, the liveness probe, and the operator's log of transitions."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.controller.conftest import Cluster, fake_code, free_port


def _samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_show_jobs_by_phase_and_the_gpu_time_and_cost_they_used(cluster: Cluster) -> None:
    port = free_port()
    cluster.start_operator("--metrics-port", str(port))
    cluster.create_job("job-m", gpusPerWorker=2, config={"customCode": fake_code(seconds=3)})
    job = cluster.wait_phase("job-m", "completed")
    usage = job["status"]["resourceUsage"]
    # Container times have whole-second precision: a 3 s run measures 3 or 4 s, so both GPUs counted give 6-8
    # GPU-seconds and one GPU at most 4.
    samples = _samples(port)
    a100 = frozenset({("namespace", "default"), ("gpu_type", "a100")})
    assert samples[("tensorone_jobs", frozenset({("namespace", "default"), ("phase", "completed")}))] == 1
    assert usage["gpuSeconds"] >= 5
    assert samples[("tensorone_gpu_seconds_total", a100)] == pytest.approx(usage["gpuSeconds"])
    assert samples[("tensorone_cost_total", a100)] == pytest.approx(usage["cost"])


def test_liveness_probe_is_answered_by_the_running_operator(cluster: Cluster) -> None:
    port = free_port()
    cluster.start_operator("--liveness-port", str(port))
    cluster.create_job("job-alive")
    cluster.wait_phase("job-alive", "running")
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert (response.status_code, response.json()) == (200, {"jobs": 1})


def test_operator_log_tells_each_phase_change_with_its_reason(cluster: Cluster) -> None:
    cluster.start_operator(log_level="INFO")
    cluster.create_job("job-story", config={"customCode": fake_code(seconds=0.5)})
    cluster.wait_phase("job-story", "completed")

    def story() -> list[str]:
        lines = [line for line in cluster.operator_log().splitlines() if "job transition" in line]
        return [
            " ".join(w for w in line.split() if w.startswith(("from=", "to=", "reason="))) for line in lines
        ]

    expected = [
        "from=queued to=pending reason=Admitted",
        "from=pending to=running reason=WorkersRunning",
        "from=running to=completed reason=Completed",
    ]
    assert (
        cluster.wait("three transitions logged", lambda: len(story()) >= 3 and story(), timeout=5) == expected
    )


def test_every_line_of_the_operator_log_is_a_json_object(cluster: Cluster) -> None:
    cluster.start_operator(log_level="DEBUG")
    cluster.create_job("job-ok", config={"customCode": fake_code(seconds=0.5)})
    failing = fake_code(seconds=0.2, exit=78, message='bad "config": line 3')
    cluster.create_job("job-bad", config={"customCode": failing}, runPolicy={"backoffLimit": 0})
    cluster.create_job("job-lost", dataset="no-such-dataset")
    cluster.wait_phase("job-ok", "completed")
    cluster.wait_phase("job-bad", "failed")
    cluster.wait("the lost job's transition logged", lambda: "job-lost" in cluster.operator_log())
    records = [json.loads(line) for line in cluster.operator_log().splitlines()]
    assert all(isinstance(record, dict) and isinstance(record["message"], str) for record in records)
    assert {record["severity"] for record in records} >= {"debug", "info", "warn"}
    failed = [r for r in records if r.get("job") == "job-bad" and r.get("to_phase") == "failed"]
    assert len(failed) == 1
    assert failed[0]["message"].startswith("job transition ")
