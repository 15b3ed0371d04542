"""Reporting: progress and metrics derived from steps, the JSONL history, the status sink's reports (against a
stand-in endpoint that records requests; the real endpoint is tested in tests/integration/reporting) and the
Prometheus endpoint."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

from tensorone.api.reporting import REPORT_CONTROL_FIELDS, TrainerReport
from tensorone.api.status import TRAINER_STATUS_FIELDS, MetricPoint, Optimizations
from tensorone_trainer.reporting.base import Reporter, thin_history
from tensorone_trainer.reporting.jsonl import JsonlSink, load_history
from tensorone_trainer.reporting.prometheus import PrometheusSink
from tensorone_trainer.reporting.status import StatusSink

REPORTS = "/v1/reports"


class FakeApi:
    """Records POST requests; answers with the queued status codes first, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "type": self.headers["Content-Type"], "auth": self.headers["Authorization"],
                     "body": body, "at": time.monotonic()}
                )  # fmt: skip
                code = fake.answers.pop(0) if fake.answers else 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.server.shutdown()


def _reporter(sinks: list[Any], total_steps: int = 100) -> Reporter:
    return Reporter(
        sinks, total_epochs=2, total_steps=total_steps, throughput_unit="tokens", device=torch.device("cpu")
    )


def test_progress_and_metrics_follow_the_steps() -> None:
    reporter = _reporter([], total_steps=10)
    for step in range(1, 5):
        reporter.step(step=step, epoch=step / 5, loss=2.0 / step, learning_rate=1e-3, throughput=1250.0)
        time.sleep(0.01)
    assert reporter.progress.current_step == 4
    assert reporter.progress.current_epoch == 1
    assert reporter.progress.percentage == 40.0
    assert reporter.progress.remaining_time is not None
    assert 0.0 < reporter.progress.remaining_time < 1.0  # 6 steps left at ~10 ms each
    assert reporter.metrics.best_loss == 0.5
    assert reporter.metrics.throughput == "1250 tokens/sec"
    assert reporter.metrics.memory_usage is not None
    assert reporter.metrics.memory_usage.endswith("B")


def test_status_history_stays_bounded_and_spans_the_run() -> None:
    now = datetime.now(UTC)
    points = [MetricPoint(step=i, loss=1.0, time=now) for i in range(1, 5001)]
    thinned = thin_history(points)
    assert len(thinned) <= 2000
    assert thinned[0].step == 1
    assert thinned[-1].step == 5000


def test_jsonl_sink_keeps_full_history_and_resume_trims_it(tmp_path: Path) -> None:
    reporter = _reporter([JsonlSink(tmp_path)])
    for step in range(1, 11):
        reporter.step(step=step, epoch=0.1 * step, loss=1.0, learning_rate=None, throughput=None)
    reporter.evaluation(step=10, epoch=1.0, eval_loss=0.9)
    reporter.close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 11
    assert json.loads((tmp_path / "status.json").read_text())["progress"]["currentStep"] == 10
    # A run resumed from step 6 continues the same history without the points after step 6.
    history = load_history(tmp_path, upto_step=6)
    assert [p.step for p in history] == [1, 2, 3, 4, 5, 6]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 6


def test_status_sink_posts_only_trainer_fields_that_the_endpoint_model_accepts(api: FakeApi) -> None:
    sink = StatusSink(api.url + REPORTS, lambda: "secret-token", interval=0.0)
    reporter = _reporter([sink])
    reporter.optimizations_chosen(
        Optimizations(
            packing=True, attention="sdpa", mixed_precision="no", fused_optimizer=False, pinned_memory=False
        )
    )
    reporter.step(step=1, epoch=0.01, loss=3.0, learning_rate=2e-4, throughput=100.0)
    reporter.close()
    assert api.requests
    last = api.requests[-1]
    assert last["path"] == REPORTS
    assert last["type"] == "application/json"
    assert last["auth"] == "Bearer secret-token"
    control = {TrainerReport.model_fields[name].alias for name in REPORT_CONTROL_FIELDS}
    assert set(last["body"]) - control == TRAINER_STATUS_FIELDS
    assert last["body"]["final"] is True  # close() sends the last report marked final
    assert last["body"]["metrics"]["currentLoss"] == 3.0
    assert last["body"]["history"][0]["step"] == 1
    TrainerReport.model_validate(last["body"])  # what the operator's endpoint takes
    assert last["body"]["optimizations"]["packing"] is True


def test_status_sink_sends_at_most_one_patch_per_interval_and_the_final_one(api: FakeApi) -> None:
    sink = StatusSink(api.url + REPORTS, lambda: None, interval=0.5)
    reporter = _reporter([sink])
    began = time.monotonic()
    while time.monotonic() - began < 1.2:
        reporter.step(step=1, epoch=0.0, loss=1.0, learning_rate=None, throughput=None)
        time.sleep(0.005)
    reporter.step(step=99, epoch=1.0, loss=0.25, learning_rate=None, throughput=None)
    reporter.close()
    times = [r["at"] for r in api.requests]
    assert 2 <= len(times) <= 5
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times[:-1]))
    assert api.requests[-1]["body"]["progress"]["currentStep"] == 99


def test_status_sink_retries_throttling_and_server_errors_not_refusals(api: FakeApi) -> None:
    api.answers = [429, 503]
    sink = StatusSink(api.url + REPORTS, lambda: None, interval=0.0)
    _reporter([sink]).close()
    assert len(api.requests) == 3
    assert sink.reports_sent == 1
    api.requests.clear()
    api.answers = [403]
    refused = StatusSink(api.url + REPORTS, lambda: None, interval=0.0)
    _reporter([refused]).close()
    assert len(api.requests) == 1
    assert refused.reports_sent == 0


def test_training_goes_on_when_the_endpoint_is_away() -> None:
    sink = StatusSink("http://127.0.0.1:9" + REPORTS, lambda: None, interval=0.0, max_tries=2)
    reporter = _reporter([sink])
    reporter.step(step=1, epoch=0.0, loss=1.0, learning_rate=None, throughput=None)
    began = time.monotonic()
    reporter.close()
    assert sink.reports_sent == 0
    assert time.monotonic() - began < 15


def test_prometheus_endpoint_serves_the_latest_metrics() -> None:
    sink = PrometheusSink(0, job_id="job_x", addr="127.0.0.1")
    port = sink.port
    reporter = _reporter([sink])
    reporter.step(step=7, epoch=0.5, loss=1.5, learning_rate=1e-4, throughput=900.0)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    reporter.close()
    assert 'tensorone_trainer_step{job_id="job_x"} 7.0' in body
    assert 'tensorone_trainer_loss{job_id="job_x"} 1.5' in body


def test_an_evaluation_with_map_puts_it_in_the_history_for_plotting(tmp_path: Path) -> None:
    reporter = _reporter([JsonlSink(tmp_path)])
    reporter.step(step=4, epoch=1.0, loss=1.0, learning_rate=None, throughput=None)
    reporter.evaluation(step=4, epoch=1.0, eval_loss=0.9, extra={"map50": 0.42, "map50_95": 0.21})
    reporter.close()
    evaluated = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert evaluated["mAP50"] == 0.42
    assert evaluated["mAP50_95"] == 0.21
    assert reporter.metrics.map50 == 0.42


def _steps(reporter: Reporter, steps: range, api: FakeApi) -> None:
    """One step at a time, each shipped before the next (the sink's thread sends at interval 0)."""
    for step in steps:
        sent = len(api.requests)
        reporter.step(step=step, epoch=0.0, loss=1.0 / step, learning_rate=None, throughput=None)
        deadline = time.monotonic() + 5
        while len(api.requests) == sent and time.monotonic() < deadline:
            time.sleep(0.01)


def test_status_sink_sends_the_whole_history_once_then_only_new_points(api: FakeApi) -> None:
    sink = StatusSink(api.url + REPORTS, lambda: None, interval=0.0, max_tries=1)
    reporter = Reporter(
        [sink], total_epochs=1, total_steps=9, throughput_unit="tokens", device=torch.device("cpu"),
        history=[MetricPoint(step=0, epoch=0.0, loss=9.0, time=datetime.now(UTC))],
    )  # fmt: skip
    _steps(reporter, range(1, 4), api)
    first, *rest = [r["body"] for r in api.requests]
    # The first: the whole history (a resumed run's earlier points too), marked as such.
    assert first["historyReset"] is True
    assert [p["step"] for p in first["history"]] == [0, 1]
    assert first["historySeq"] == 1
    # Then each report only the points new since, ending at their position.
    assert [([p["step"] for p in r["history"]], r["historySeq"]) for r in rest] == [([2], 2), ([3], 3)]
    assert not [r for r in rest if "historyReset" in r]
    reporter.close()


def test_status_sink_sends_points_again_after_a_failure_and_the_whole_history_when_asked(
    api: FakeApi,
) -> None:
    sink = StatusSink(api.url + REPORTS, lambda: None, interval=0.0, max_tries=1)
    reporter = _reporter([sink], total_steps=9)
    _steps(reporter, range(1, 2), api)  # the whole history, taken
    api.answers = [503]
    _steps(reporter, range(2, 3), api)  # not taken: point 2 stays unsent
    deadline = time.monotonic() + 5
    while len(api.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    _steps(reporter, range(3, 4), api)
    bodies = [r["body"] for r in api.requests]
    # The batch not taken goes again as it was (same points, same position: the endpoint adds them once), then on.
    assert [([p["step"] for p in b["history"]], b["historySeq"]) for b in bodies[1:]] == [
        ([2], 2),
        ([2], 2),
        ([3], 3),
    ]
    # The endpoint lost count (409): the next report carries the whole history again, at once.
    api.answers = [409]
    sent = len(api.requests)
    _steps(reporter, range(4, 5), api)
    deadline = time.monotonic() + 5
    while len(api.requests) < sent + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    refused, reset = [r["body"] for r in api.requests[sent : sent + 2]]
    assert "historyReset" not in refused
    assert reset["historyReset"] is True
    assert [p["step"] for p in reset["history"]] == [1, 2, 3, 4]
    assert reset["historySeq"] == 4
    reporter.close()
