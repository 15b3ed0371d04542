"""Capacity of the operator's report endpoint (``POST /v1/reports``) on one process, against a no-op handler.

The endpoint process runs the real :class:`ReportEndpoint` (TokenReview cache, pod -> job lookup, validation against
the trainer-owned status model, step check, coalesced writes) under uvloop, as the operator does, with its
directory holding N running jobs. Its API server is a stub process that answers TokenReviews and status PATCHes at
once, so the figure is the endpoint's own cost (the real API server's cost of the coalesced writes is another
matter: it is at most one PATCH per job per round trip). The baseline is a handler on the same server that reads
the body and answers 202. A third process sends reports from N jobs (one token each) as fast as C connections
allow. Target: 1,000 jobs reporting every 2 s = 500 reports/s.

    python -m benchmarks.report_capacity [--jobs 1000] [--seconds 8] [--history 200] [--delta 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.results import Result

TARGET_REPORTS_PER_SECOND = 1000 / 2.0
DELTA_POINTS = 5
"""New points a report carries in the delta figure: a trainer reporting every 2 s at a few steps a second."""
WRITE_INTERVAL = (
    5.0  # the operator's default reportIntervalSeconds: each job's status written at most that often
)
NAMESPACE = "tenant"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _job(index: int) -> str:
    return f"job-{index:05d}"


def _stub_api(port: int, ready: Any, counters: Any) -> None:
    """TokenReview answers the pod named by the token (``bench:<job>``); status PATCHes answer 200."""
    import uvloop
    from aiohttp import web

    from tensorone.api.reporting import REPORT_AUDIENCE

    async def review(request: web.Request) -> web.Response:
        counters[0] += 1
        token = (await request.json())["spec"]["token"]
        job = token.removeprefix("bench:")
        status = {
            "authenticated": True,
            "audiences": [REPORT_AUDIENCE],
            "user": {
                "username": f"system:serviceaccount:{NAMESPACE}:default",
                "extra": {
                    "authentication.kubernetes.io/pod-name": [f"{job}-worker-0"],
                    "authentication.kubernetes.io/pod-uid": [f"uid-{job}"],
                },
            },
        }
        return web.json_response({"status": status})

    async def patch(request: web.Request) -> web.Response:
        counters[1] += 1
        await request.read()
        return web.json_response({})

    async def main() -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/apis/authentication.k8s.io/v1/tokenreviews", review)
        app.router.add_patch(
            "/apis/training.tensorone.ai/v1/namespaces/{ns}/trainingjobs/{name}/status", patch
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


def _endpoint(port: int, api_port: int, jobs: int, ready: Any) -> None:
    """The real endpoint with ``jobs`` running jobs in its directory, plus ``/noop`` (the baseline)."""
    import uvloop
    from aiohttp import web

    from tensorone.api.reporting import REPORT_AUDIENCE
    from tensorone.controller.kube import Connection, KubeClient
    from tensorone.controller.pods import PodView
    from tensorone.controller.reporting.directory import JobDirectory
    from tensorone.controller.reporting.server import ReportEndpoint, build_app
    from tensorone.controller.reporting.tokens import TokenReviewer
    from tensorone.controller.reporting.writer import StatusWriter

    async def noop(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"accepted": True}, status=202)

    async def main() -> None:
        client = KubeClient(Connection(server=f"http://127.0.0.1:{api_port}", token="x"))
        directory = JobDirectory()
        pods: dict[tuple[str, str], list[PodView]] = {}
        for i in range(jobs):
            key = (NAMESPACE, _job(i))
            pods[key] = [PodView(name=f"{_job(i)}-worker-0", index=0, attempt=1, phase="Running")]
            body = {"metadata": {"uid": f"job-uid-{i}"}, "status": {"phase": "running", "attempts": 1}}
            directory.track(key, body, pods)
        writer = StatusWriter(client, WRITE_INTERVAL)
        endpoint = ReportEndpoint(TokenReviewer(client, REPORT_AUDIENCE), directory, writer)
        app = build_app(endpoint)
        app.router.add_post("/noop", noop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


def report_body(step: int, history: int, *, seq: int | None = None, reset: bool = False) -> bytes:
    """What the trainer sends: progress, metrics, three checkpoints and ``history`` points: the whole history
    (``seq`` None, as trainers did before deltas), or the points up to stream position ``seq`` (the newest
    ``history`` ones, or all of them when ``reset``)."""
    now = datetime.now(UTC).isoformat()
    first = 1 if seq is None else seq - history + 1
    body: dict[str, Any] = {
        "progress": {"currentEpoch": 1, "totalEpochs": 3, "currentStep": step, "totalSteps": 10**6,
                     "percentage": 12.5, "elapsedTime": 321.5, "remainingTime": 999.0},
        "metrics": {"currentLoss": 1.2345, "bestLoss": 1.1, "learningRate": 0.0002, "throughput": "1250 tokens/sec",
                    "throughputValue": 1250.0, "memoryUsage": "38.2GB"},
        "checkpoints": [{"id": f"ckpt_step_{s}", "epoch": 0, "step": s, "loss": 1.5, "createdAt": now,
                         "size": "2.3GB", "sizeBytes": 2300000000, "attempt": 1} for s in (100, 200, 300)],
        "history": [{"step": s, "epoch": s / 1000, "loss": 1.5, "learningRate": 0.0002, "throughput": 1250.0,
                     "time": now} for s in range(first, first + history)],
        "lastReportTime": now,
    }  # fmt: skip
    if seq is not None:
        body["historySeq"] = seq
        if reset:
            body["historyReset"] = True
    return json.dumps(body).encode()


_PLACEHOLDER = 999_999_999  # a precomputed delta body's position, replaced by the job's


class DeltaJobs:
    """Per job, what a trainer's status sink knows: its stream position and how long the status's history is.

    Each report carries ``delta`` new points; when they would not fit the status's bounded history, the report is a
    reset carrying the trainer's thinned history instead (``RESET_POINTS``, as ``thin_history`` leaves it), as the
    sink does, so the resets' cost is in the figure at their real rate."""

    RESET_POINTS = 1500

    def __init__(self, jobs: int, history: int, delta: int) -> None:
        from tensorone.api.reporting import MAX_REPORT_HISTORY

        self.limit = MAX_REPORT_HISTORY
        self.history = history
        self.delta = delta
        self.seq = [history] * jobs
        self.size: list[int | None] = [None] * jobs
        self.resets = 0
        self._deltas = {s: report_body(s, delta, seq=_PLACEHOLDER) for s in range(1, 256)}

    def body(self, job: int, step: int) -> bytes:
        size = self.size[job]
        self.seq[job] += self.delta
        if size is None or size + self.delta > self.limit:
            points = min(self.history, self.RESET_POINTS)
            # After the warm-up's first resets the jobs stand spread over the cycle (a reset, then deltas until
            # the bound), so the measured reports hold resets at their steady-state rate (one in
            # (limit - RESET_POINTS) / delta).
            spread = (job * 7919) % (self.limit - points) if size is None else 0
            self.size[job] = points + spread
            self.resets += 1
            return report_body(min(step, 255), points, seq=self.seq[job], reset=True)
        self.size[job] = size + self.delta
        # The precomputed body with this job's stream position (the endpoint reads it like any other).
        template = self._deltas[min(step, 255)]
        return template.replace(b'"historySeq": %d' % _PLACEHOLDER, b'"historySeq": %d' % self.seq[job])


async def _load(
    url: str,
    steps: list[int],
    seconds: float,
    history: int,
    concurrency: int,
    deltas: DeltaJobs | None = None,
    cursor: list[int] | None = None,
) -> tuple[int, int]:
    """Send reports round-robin over the jobs for ``seconds`` (steps keep rising per job); (taken, refused)."""
    import aiohttp

    taken = refused = 0
    jobs = len(steps)
    deadline = time.monotonic() + seconds
    bodies = {s: report_body(s, history) for s in range(1, 64)} if deltas is None else {}
    cursor = [0] if cursor is None else cursor  # the next job, kept across calls: every job gets its turn

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal taken, refused
        while time.monotonic() < deadline:
            job = cursor[0] % jobs
            cursor[0] += 1
            steps[job] += 1
            body = bodies[min(steps[job], 63)] if deltas is None else deltas.body(job, steps[job])
            headers = {"Authorization": f"Bearer bench:{_job(job)}", "Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 202:
                    taken += 1
                else:
                    refused += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return taken, refused


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    jobs: int, seconds: float, history: int, concurrency: int = 32, delta: int | None = None
) -> dict[str, float]:
    """Reports carry the whole ``history``, or (``delta``) that many new points of a ``history``-point run."""
    context = multiprocessing.get_context("spawn")
    api_port, port = _free_port(), _free_port()
    counters = context.Array("l", 2)
    api_ready, endpoint_ready = context.Event(), context.Event()
    api = context.Process(target=_stub_api, args=(api_port, api_ready, counters), daemon=True)
    endpoint = context.Process(target=_endpoint, args=(port, api_port, jobs, endpoint_ready), daemon=True)
    api.start()
    endpoint.start()
    try:
        if not (api_ready.wait(60) and endpoint_ready.wait(60)):
            raise RuntimeError("the stub API server or the endpoint did not start")
        base = f"http://127.0.0.1:{port}"
        steps = [0] * jobs
        sent = history if delta is None else delta  # the no-op handler gets bodies of the same size
        asyncio.run(_load(base + "/noop", steps, 1.0, sent, concurrency))  # warm-up
        # Steady state: every job has reported before (its token is in the cache, its writer has written once).
        deltas = None if delta is None else DeltaJobs(jobs, history, delta)
        cursor = [0]
        asyncio.run(_load(base + "/v1/reports", steps, jobs / 200, history, concurrency, deltas, cursor))
        while deltas is not None and None in deltas.size:  # each job's first report (its whole history) sent
            asyncio.run(_load(base + "/v1/reports", steps, 2.0, history, concurrency, deltas, cursor))
        resets_before = 0 if deltas is None else deltas.resets
        cpu = _cpu_seconds(endpoint.pid)
        noop_taken, _ = asyncio.run(_load(base + "/noop", steps, seconds, sent, concurrency))
        noop_cpu = _cpu_seconds(endpoint.pid) - cpu
        before, cpu = list(counters), _cpu_seconds(endpoint.pid)
        taken, refused = asyncio.run(
            _load(base + "/v1/reports", steps, seconds, history, concurrency, deltas, cursor)
        )
        time.sleep(WRITE_INTERVAL + 0.5)  # let the last coalesced writes land
        report_cpu = _cpu_seconds(endpoint.pid) - cpu
        reviews, patches = counters[0] - before[0], counters[1] - before[1]
    finally:
        endpoint.kill()
        api.kill()
    return {
        "reports_per_s": taken / seconds,
        "noop_per_s": noop_taken / seconds,
        # What one busy core of the endpoint process would take: the load generator shares this machine's cores, so
        # the sent rate is bounded by it too; CPU seconds of the endpoint process per request are not.
        "reports_per_cpu_s": taken / report_cpu if report_cpu else math.nan,
        "noop_per_cpu_s": noop_taken / noop_cpu if noop_cpu else math.nan,
        "refused": refused,
        "token_reviews": reviews,
        "patches": patches,
        "taken": taken,
        "body_bytes": len(
            report_body(1, history if delta is None else delta, seq=None if delta is None else 0)
        ),
        "resets": 0 if deltas is None else deltas.resets - resets_before,
    }


def run(quick: bool = False) -> list[Result]:
    seconds = 3.0 if quick else 8.0
    results = []
    for history, delta in ((0, None), (200, None), (2000, None), (2000, DELTA_POINTS)):
        figures = measure(1000, seconds, history, delta=delta)
        sent = "the whole history" if delta is None else f"{delta} new points a report, resets included"
        results.append(
            Result(
                benchmark="report_capacity",
                name=f"reports per CPU-second, 1000 jobs, {history} history points, {sent}"
                f" ({figures['body_bytes'] // 1024} KiB)",
                value=figures["reports_per_cpu_s"],
                unit="reports/CPU-s",
                baseline_name="no-op handler, same server",
                baseline_value=figures["noop_per_cpu_s"],
                target=f"≥ {TARGET_REPORTS_PER_SECOND:.0f} reports/s (1,000 jobs × 1 report / 2 s)",
                note=f"sent {figures['reports_per_s']:.0f}/s (no-op {figures['noop_per_s']:.0f}/s, load generator on the"
                f" same cores); {figures['token_reviews']:.0f} TokenReviews, {figures['patches']:.0f} status PATCHes for"
                f" {figures['taken']:.0f} reports (stub API server); {figures['refused']:.0f} refused"
                + ("" if delta is None else f"; {figures['resets']:.0f} resets"),
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--history", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--delta",
        type=int,
        default=None,
        help="send this many new points a report instead of the whole history",
    )
    args = parser.parse_args()
    figures = measure(args.jobs, args.seconds, args.history, args.concurrency, args.delta)
    capacity = figures["reports_per_cpu_s"]
    ratio = capacity / figures["noop_per_cpu_s"]
    print(
        f"jobs={args.jobs} history={args.history} delta={args.delta} body={figures['body_bytes']} B: "
        f"{capacity:.0f} reports per CPU-second of the endpoint process (no-op handler"
        f" {figures['noop_per_cpu_s']:.0f}, ratio {ratio:.2f}); sent {figures['reports_per_s']:.0f}/s"
        f" (no-op {figures['noop_per_s']:.0f}/s); "
        f"{figures['token_reviews']:.0f} TokenReviews and {figures['patches']:.0f} PATCHes for "
        f"{figures['taken']:.0f} reports; {figures['refused']:.0f} refused; {figures['resets']:.0f} resets; "
        f"target {TARGET_REPORTS_PER_SECOND:.0f}/s on one core: {'met' if capacity >= TARGET_REPORTS_PER_SECOND else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
