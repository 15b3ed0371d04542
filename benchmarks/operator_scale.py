"""Control-plane scale: N TrainingJobs created at once, the operator beside a minimal kopf operator, same run.

For each N (10, 100, 500) and each operator, a fresh sandbox (one node with plenty of GPUs, pods not run as
processes) and a fresh operator process. The benchmark creates N single-worker jobs at once (16 concurrent
POSTs) and measures, server-side and on one clock:

- latency from each job's creation (its POST answered 201) to its worker pod's creation (p50, p99), and jobs/s
  (N over first job created → last pod created);
- latency to running: a stand-in kubelet inside the sandbox marks each bound pod Running at once (no HTTP, so
  not counted); the operator's job is running when its status says so, the baseline's when its pod runs;
- API requests per job made by the operator process (writes = POST/PUT/PATCH/DELETE, and all requests) from
  the first job's creation until everything is running and the operator has been quiet for a second;
- the operator's peak RSS (VmHWM).

Each run waits at most 20 s + 0.2 s per job; jobs not done by then count with the time waited (lower bounds) and
the run is marked incomplete.

The baseline, ``benchmarks/minimal_operator.py``, is one ``@kopf.on.create`` handler creating one pod. Targets
(reported, not asserted): latency within 1.5x of the baseline; ≤ 10 API writes per single-worker job to running.

    python -m benchmarks.operator_scale [--quick] [--sizes 10,100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.results import Result
from tensorone.facade.testing import free_port
from tensorone.sandbox.apiserver import errors
from tensorone.sandbox.apiserver.store import now_rfc3339
from tensorone.sandbox.config import NodeSpec
from tensorone.sandbox.runtime import Sandbox
from tensorone.sandbox.testing import RunningSandbox, running_sandbox

REPO = Path(__file__).resolve().parents[1]
SIZES = (10, 100, 500)
CONCURRENCY = 16
AGENT = "tensorone-benchmark"
JOB_LABEL = "training.tensorone.ai/job"
JOBS = "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPERATORS = ("minimal kopf operator", "tensorone operator")
NODES = [NodeSpec(name="sandbox-a100", gpu_type="a100", gpus=4096, pods=4096)]


@dataclass
class RequestLog:
    """What the sandbox API server saw, timed with ``time.perf_counter`` on the server's thread."""

    requests: list[tuple[float, str, str, bool]] = field(default_factory=list)  # (t, verb, path, ours)
    job_created: dict[str, float] = field(default_factory=dict)
    pod_created: dict[str, float] = field(default_factory=dict)  # by job name
    job_running: dict[str, float] = field(default_factory=dict)  # the operator's status says running
    pod_running: dict[str, float] = field(default_factory=dict)  # the stand-in kubelet ran the pod
    watching_jobs: bool = False


def install_request_log(sandbox: Sandbox, log: RequestLog) -> None:
    """Wrap the server's routing so every request is logged, and the creations and transitions are timed."""
    server = sandbox.server
    route: Callable[[Any], Awaitable[Any]] = server._route

    async def logged(request: Any) -> Any:
        verb = str(request.method.value).upper()
        path: str = request.url.path
        ours = request.headers.get("User-Agent", "") == AGENT
        log.requests.append((time.perf_counter(), verb, path, ours))
        if verb == "GET" and request.params.get("watch") in ("true", "1") and "trainingjobs" in path:
            log.watching_jobs = log.watching_jobs or not ours
        response = await route(request)
        if verb in ("POST", "PATCH") and response.status < 300 and request.body:
            now = time.perf_counter()
            body = json.loads(request.body)
            if verb == "POST" and path == JOBS:
                log.job_created[body["metadata"]["name"]] = now
            elif verb == "POST" and path.endswith("/pods"):
                job = body["metadata"].get("labels", {}).get(JOB_LABEL)
                if job:
                    log.pod_created.setdefault(job, now)
            elif (
                verb == "PATCH"
                and path.startswith(JOBS)
                and path.endswith("/status")
                and (body.get("status") or {}).get("phase") == "running"
            ):
                log.job_running.setdefault(path.split("/")[-2], now)
        return response

    server._route = logged  # type: ignore[method-assign]


async def stand_in_kubelet(sandbox: Sandbox, log: RequestLog) -> None:
    """Mark every bound pod Running at once, from inside the sandbox (the node agent is told not to run pods)."""
    store = sandbox.store
    pods = store.registry.get("", "v1", "pods")
    assert pods is not None
    queue = store.subscribe()
    try:
        while True:
            event = await queue.get()
            obj = event.obj
            if event.plural != "pods" or event.type == "DELETED" or obj["metadata"].get("deletionTimestamp"):
                continue
            if not (obj.get("spec") or {}).get("nodeName") or (obj.get("status") or {}).get("phase") in (
                "Running", "Succeeded", "Failed"
            ):  # fmt: skip
                continue
            now = now_rfc3339()
            status = {
                "phase": "Running",
                "startTime": now,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("Initialized", "Ready", "ContainersReady")
                ],
                "containerStatuses": [
                    {"name": c["name"], "image": c.get("image", ""), "ready": True, "started": True,
                     "restartCount": 0, "state": {"running": {"startedAt": now}}}
                    for c in obj["spec"]["containers"]
                ],
            }  # fmt: skip
            meta = obj["metadata"]
            try:
                store.patch(
                    pods, meta["namespace"], meta["name"], "application/merge-patch+json",
                    {"status": status}, subresource="status",
                )  # fmt: skip
            except errors.ApiError:
                continue
            job = (meta.get("labels") or {}).get(JOB_LABEL)
            if job:
                log.pod_running.setdefault(job, time.perf_counter())
    finally:
        store.unsubscribe(queue)


def operator_command(which: str, sandbox: RunningSandbox, metrics_port: int) -> list[str]:
    if which == OPERATORS[0]:
        return [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", "--quiet",
                str(REPO / "benchmarks" / "minimal_operator.py")]  # fmt: skip
    settings = sandbox.dir / "operator.yaml"
    settings.write_text(yaml.safe_dump({"trainerImage": "sandbox/fake-trainer"}))
    return [sys.executable, "-m", "tensorone", "operator", "--kubeconfig", str(sandbox.kubeconfig_path),
            "--config", str(settings), "--log-level", "WARNING", "--metrics-port", str(metrics_port)]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process's CPU time: the sandbox API server, its scheduler, the stand-in kubelet and the job creator."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes(pid: int) -> float:
    """``VmHWM`` of a live process (peak resident set size)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) * 1024
    return math.nan


def own_request_count(metrics_port: int) -> float:
    """The tensorone operator's own counter of its client's requests (kopf's watches and patches excluded)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return math.nan
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tensorone_api_requests_total{")
    )


def job_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "modelType": "custom",
            "datasetRef": {"name": "bench"},
            "config": {"customCode": "def train(context):\n    pass\n"},
            "gpuType": "a100",
            "gpusPerWorker": 1,
            "maxWorkers": 1,
        },
    }


async def create_jobs(url: str, n: int) -> None:
    names = iter(f"job-{i:04d}" for i in range(n))
    async with httpx.AsyncClient(base_url=url, headers={"User-Agent": AGENT}, timeout=60) as client:

        async def worker() -> None:
            for name in names:
                response = await client.post(JOBS, json=job_manifest(name))
                if response.status_code != 201:
                    raise RuntimeError(f"creating {name}: HTTP {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def setup_cluster(http: httpx.Client) -> None:
    for crd in sorted((REPO / "crds").glob("*.yaml")):
        response = http.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=yaml.safe_load(crd.read_text())
        )
        response.raise_for_status()
    dataset = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "Dataset",
        "metadata": {"name": "bench"},
        "spec": {"displayName": "bench", "format": "jsonl", "source": "/datasets/train.jsonl"},
    }
    http.post("/apis/training.tensorone.ai/v1/namespaces/default/datasets", json=dataset).raise_for_status()


def resource_of(path: str) -> str:
    """``pods``, ``trainingjobs/status``… from a request path (names and namespaces left out)."""
    parts = [p for p in path.split("/") if p]
    if "namespaces" in parts:
        index = parts.index("namespaces")
        rest = parts[index + 2 :]
    else:
        rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if not rest:
        return path
    return rest[0] + ("/" + rest[2] if len(rest) > 2 else "")


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@dataclass
class Run:
    """The figures of one operator at one N."""

    operator: str
    n: int
    latencies: list[float]
    running_latencies: list[float]
    jobs_per_second: float
    writes: int
    requests: int
    peak_rss: float
    own_requests: float
    operator_cpu: float  # CPU seconds of the operator process over the run
    sandbox_cpu: float  # CPU seconds of the benchmark process (sandbox + load generator) over the run
    complete: bool
    breakdown: Counter[str]

    def pct(self, values: list[float], q: int) -> float:
        if not values:
            return math.nan
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@contextlib.contextmanager
def operator_process(
    argv: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(which: str, n: int, tmp: Path, timeout: float) -> Run:
    """One fresh sandbox, one fresh operator process, N jobs; figures from the server's log."""
    log = RequestLog()
    with running_sandbox(tmp / f"{which.split()[0]}-{n}", gpus=NODES, run_pods=False) as sandbox:
        with httpx.Client(base_url=sandbox.url, headers={"User-Agent": AGENT}, timeout=30) as http:
            setup_cluster(http)
        sandbox.call(lambda s: install_request_log(s, log))
        kubelet: Future[None] = asyncio.run_coroutine_threadsafe(
            stand_in_kubelet(sandbox.sandbox, log), sandbox.loop
        )
        port = free_port()
        env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig_path), "PYTHONUNBUFFERED": "1"}
        log_path = sandbox.dir / "operator.log"
        with operator_process(operator_command(which, sandbox, port), env, log_path) as process:
            if not wait_for(lambda: log.watching_jobs, 60):
                raise RuntimeError(
                    f"{which} never watched TrainingJobs; see {log_path}:\n{log_path.read_text()}"
                )
            time.sleep(1.0)  # the operator's initial listing settles; its start-up requests are not counted
            started = time.perf_counter()
            operator_cpu, sandbox_cpu = cpu_seconds(process.pid), own_cpu_seconds()
            done_key = log.job_running if which == OPERATORS[1] else log.pod_running
            creator = threading.Thread(target=asyncio.run, args=(create_jobs(sandbox.url, n),))
            creator.start()
            complete = wait_for(lambda: len(log.pod_created) >= n and len(done_key) >= n, timeout)
            creator.join()

            def last_write() -> float:
                return max(
                    (t for t, verb, _, ours in log.requests if verb in WRITES and not ours), default=0.0
                )

            wait_for(lambda: time.perf_counter() - last_write() > 1.0, 10)  # quiet for a second
            ended = time.perf_counter()
            operator_cpu = cpu_seconds(process.pid) - operator_cpu
            sandbox_cpu = own_cpu_seconds() - sandbox_cpu
            peak = peak_rss_bytes(process.pid)
            own = own_request_count(port) if which == OPERATORS[1] else math.nan
        kubelet.cancel()
    counted = [(verb, t) for t, verb, _, ours in log.requests if not ours and started <= t <= ended]
    # A job still without its pod (or not running) when the wait ran out counts with the time it waited: a lower
    # bound, so an incomplete run's percentiles understate, never flatter by dropping the slowest jobs.
    latencies = [log.pod_created.get(j, ended) - t for j, t in log.job_created.items()]
    running = [done_key.get(j, ended) - t for j, t in log.job_created.items()]
    first = min(log.job_created.values(), default=started)
    last = max(log.pod_created.values(), default=math.nan)
    return Run(
        operator=which,
        n=n,
        latencies=latencies,
        running_latencies=running,
        jobs_per_second=len(log.pod_created) / (last - first) if log.pod_created else math.nan,
        writes=sum(1 for verb, _ in counted if verb in WRITES),
        requests=len(counted),
        peak_rss=peak,
        own_requests=own,
        operator_cpu=operator_cpu,
        sandbox_cpu=sandbox_cpu,
        complete=complete,
        breakdown=Counter(
            f"{verb} {resource_of(path)}"
            for t, verb, path, ours in log.requests
            if not ours and started <= t <= ended
        ),
    )


def wait_budget(n: int) -> float:
    """Seconds to wait for N jobs to run: keeps N=500 bounded; a run that needs longer is marked incomplete."""
    return 20 + 0.2 * n


def run_all(sizes: tuple[int, ...]) -> list[tuple[Run, Run]]:
    """(baseline, operator) per N, each on a fresh sandbox, baseline first."""
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            timeout = wait_budget(n)
            baseline = measure(OPERATORS[0], n, Path(tmp), timeout)
            product = measure(OPERATORS[1], n, Path(tmp), timeout)
            pairs.append((baseline, product))
    return pairs


def pair_results(base: Run, ours: Run) -> list[Result]:
    """The figures of one N: the operator's, beside the minimal kopf operator's."""
    n = base.n
    note = (
        ""
        if base.complete and ours.complete
        else f"INCOMPLETE: not every job ran within {wait_budget(n):.0f} s; waits counted as lower bounds"
    )
    rows: list[tuple[str, float, float, str, str, str]] = [
        (f"create → worker pod created p{q}", ours.pct(ours.latencies, q) * 1000,
         base.pct(base.latencies, q) * 1000, "ms", "ratio ≤ 1.5", "")
        for q in (50, 99)
    ]  # fmt: skip
    rows += [
        ("jobs/s (create → pod created)", ours.jobs_per_second, base.jobs_per_second, "jobs/s", "", ""),
        ("create → running p50", ours.pct(ours.running_latencies, 50) * 1000,
         base.pct(base.running_latencies, 50) * 1000, "ms", "",
         "operator: status phase running; baseline: its pod running"),
        ("API writes per job (to running)", ours.writes / n, base.writes / n, "writes", "≤ 10 per job", ""),
        ("API requests per job (to running)", ours.requests / n, base.requests / n, "requests", "",
         f"operator's own metric: {ours.own_requests / n:.1f}/job (its own client over the whole process, kopf excluded)"),
        ("operator peak RSS (VmHWM)", ours.peak_rss / 2**20, base.peak_rss / 2**20, "MiB", "", ""),
        ("operator CPU per job", ours.operator_cpu / n * 1000, base.operator_cpu / n * 1000, "ms", "",
         "the operator process alone, create → all running and quiet"),
        ("sandbox + load generator CPU per job", ours.sandbox_cpu / n * 1000, base.sandbox_cpu / n * 1000, "ms",
         "", f"one process beside the operator on {os.cpu_count()} CPUs; serves every API request"),
    ]  # fmt: skip
    return [
        Result("operator_scale", f"{name}, N={n}", value, unit, base.operator, baseline, target,
               "; ".join(x for x in (note, extra) if x))
        for name, value, baseline, unit, target, extra in rows
    ]  # fmt: skip


def to_results(pairs: list[tuple[Run, Run]]) -> list[Result]:
    return [result for base, ours in pairs for result in pair_results(base, ours)]


def run(quick: bool) -> list[Result]:
    """The figures for ``python -m benchmarks``: N=10 only when ``quick``."""
    return to_results(run_all((10,) if quick else SIZES))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N=10 only")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated N")
    args = parser.parse_args()
    sizes = (10,) if args.quick else tuple(int(s) for s in args.sizes.split(","))
    pairs = run_all(sizes)
    print(f"operator scale: N single-worker TrainingJobs created at once ({CONCURRENCY} concurrent POSTs), "
          f"sandbox API, pods not run ({os.cpu_count()} CPUs)")  # fmt: skip
    header = f"{'N':>5} {'':22}{'p50 ms':>9}{'p99 ms':>9}{'jobs/s':>8}{'run p50':>9}{'writes/job':>11}" \
             f"{'reqs/job':>9}{'RSS MiB':>9}{'op CPU ms/job':>14}{'sandbox CPU ms/job':>19}"  # fmt: skip
    print(header)
    for pair in pairs:
        for r in pair:
            print(f"{r.n:>5} {r.operator:22}{r.pct(r.latencies, 50) * 1000:9.1f}{r.pct(r.latencies, 99) * 1000:9.1f}"
                  f"{r.jobs_per_second:8.1f}{r.pct(r.running_latencies, 50) * 1000:9.1f}{r.writes / r.n:11.1f}"
                  f"{r.requests / r.n:9.1f}{r.peak_rss / 2**20:9.1f}{r.operator_cpu / r.n * 1000:14.1f}"
                  f"{r.sandbox_cpu / r.n * 1000:19.1f}{'' if r.complete else '  INCOMPLETE'}")  # fmt: skip
        base, ours = pair
        print(f"{'':6}ratio operator / minimal: p50 {ours.pct(ours.latencies, 50) / base.pct(base.latencies, 50):.2f}x, "
              f"p99 {ours.pct(ours.latencies, 99) / base.pct(base.latencies, 99):.2f}x (target ≤ 1.5); "
              f"writes/job {ours.writes / ours.n:.1f} (target ≤ 10)")  # fmt: skip
    for r in pairs[-1]:
        calls = ", ".join(f"{k} {v / r.n:.2f}" for k, v in sorted(r.breakdown.items()))
        print(f"requests per job at N={r.n}, {r.operator}: {calls}")


if __name__ == "__main__":
    main()
