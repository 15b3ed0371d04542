"""Control-plane scale: N TrainingJobs created at once, the operator beside a minimal kopf operator, same run.

For each N (100, 500, 1000) and each operator, a fresh sandbox — the real control plane (etcd, kube-apiserver,
controller manager, scheduler) with one node with plenty of GPUs whose kubelet reports each bound pod Running at
once without running it — and a fresh operator process. The benchmark creates N single-worker jobs at once (16
concurrent POSTs) and measures, server-side and on one clock (kube-apiserver's audit log):

- latency from each job's creation (its POST answered 201) to its worker pod's creation (p50, p99), and jobs/s
  (N over first job created → last pod created);
- latency to running: the operator's job is running when its status says so, the baseline's when its pod runs;
- API requests per job made by the operator process (writes = POST/PUT/PATCH/DELETE, and all requests) from
  the first job's creation until everything is running and the operator has been quiet for a second;
- the operator's peak RSS (VmHWM).

Each run waits at most 30 s + 0.3 s per job; jobs not done by then count with the time waited (lower bounds) and
the run is marked incomplete.

The baseline, ``benchmarks/minimal_operator.py``, is one ``@kopf.on.create`` handler creating one pod. Targets
(reported, not asserted): ≤ 8 API writes per single-worker job to running; operator CPU per job ≤ 2.5x the
minimal operator's; p99 create → worker pod ≤ 3 s at N=500 and ≤ 10 s at N=1000.

    python -m benchmarks.operator_scale [--quick] [--sizes 10,100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.results import Result, render_table
from tensorone.facade.testing import free_port
from tensorone.sandbox.config import NodeSpec
from tensorone.sandbox.controlplane import ADMIN_USER
from tensorone.sandbox.testing import RunningSandbox, running_sandbox

REPO = Path(__file__).resolve().parents[1]
SIZES = (100, 500, 1000)
CONCURRENCY = 16
AGENT = "tensorone-benchmark"
JOB_LABEL = "training.tensorone.ai/job"
JOBS = "/apis/training.tensorone.ai/v1/namespaces/default/trainingjobs"
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
OPERATORS = ("minimal kopf operator", "tensorone operator")
NODES = [NodeSpec(name="sandbox-a100", gpu_type="a100", gpus=4096, pods=4096)]


# Request bodies of status writes (to see when a job or pod turns running); everything else by its metadata.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request
  verbs: [patch, update]
  resources:
  - group: training.tensorone.ai
    resources: [trainingjobs/status]
  - group: ""
    resources: [pods/status]
- level: Request
  verbs: [create]
  resources:
  - group: ""
    resources: [events]
- level: Metadata
"""
# A benchmark job's name, and the start of each of its children's (its pods, config, claim; its events by generateName).
JOB_NAME = re.compile(r"^(job-\d{4})(?:$|[-.])")


def _time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass
class RequestLog:
    """What the API server saw (its audit log), each request at the time its response completed."""

    requests: list[tuple[float, str, str, bool]] = field(
        default_factory=list
    )  # (t, verb, resource, operator's)
    job_created: dict[str, float] = field(default_factory=dict)
    pod_created: dict[str, float] = field(default_factory=dict)  # by job name
    job_running: dict[str, float] = field(default_factory=dict)  # the operator's status says running
    pod_running: dict[str, float] = field(default_factory=dict)  # the kubelet reported the pod running
    watching_jobs: bool = False
    # per job, the operator's writes concerning it (the job, its children, its events), but for the usage it flushes
    # while running: the writes it takes a job from create to running, whatever the length of the measurement
    own_writes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_audit(cls, events: list[dict[str, Any]]) -> RequestLog:
        log = cls()
        for event in events:
            ref = event.get("objectRef") or {}
            code = (event.get("responseStatus") or {}).get("code", 0)
            when = _time(event["stageTimestamp"])
            user = (event.get("user") or {}).get("username", "")
            ours = event.get("userAgent", "").startswith(AGENT)
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            operator = user == ADMIN_USER and not ours
            log.requests.append((when, event["verb"], resource, operator))
            # The operator's listing of the jobs (its watch follows at once; an audit log shows a watch only once
            # its first event is sent, and there is none before the first job).
            if operator and event["verb"] in ("list", "watch") and resource == "trainingjobs":
                log.watching_jobs = True
            name = ref.get("name", "")
            request = event.get("requestObject") or {}
            body = request.get("status") or {}
            # Failed writes count too: each costs the server and the operator.
            if operator and event["verb"] in WRITES:
                about = JOB_NAME.match(name or (request.get("involvedObject") or {}).get("name", ""))
                usage_flush = resource == "trainingjobs/status" and set(body) == {"resourceUsage"}
                if about is not None and not usage_flush:
                    log.own_writes[about.group(1)] += 1
            if code >= 300:
                continue
            if ours and event["verb"] == "create" and resource == "trainingjobs":
                log.job_created[name] = when
            elif operator and event["verb"] == "create" and resource == "pods" and name.endswith("-worker-0"):
                log.pod_created.setdefault(name.removesuffix("-worker-0"), when)
            elif resource == "trainingjobs/status" and body.get("phase") == "running":
                log.job_running.setdefault(name, when)
            elif resource == "pods/status" and body.get("phase") == "Running":
                log.pod_running.setdefault(name.removesuffix("-worker-0"), when)
        return log


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


async def create_jobs(sandbox: RunningSandbox, n: int) -> None:
    names = iter(f"job-{i:04d}" for i in range(n))
    headers = {"User-Agent": AGENT, "Authorization": f"Bearer {sandbox.admin_token}"}
    verify = ssl.create_default_context(cafile=str(sandbox.ca_file))
    async with httpx.AsyncClient(base_url=sandbox.url, headers=headers, verify=verify, timeout=60) as client:

        async def worker() -> None:
            for name in names:
                response = await client.post(JOBS, json=job_manifest(name))
                if response.status_code != 201:
                    raise RuntimeError(f"creating {name}: HTTP {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def setup_cluster(sandbox: RunningSandbox, http: httpx.Client) -> None:
    sandbox.install_product_crds()
    dataset = {
        "apiVersion": "training.tensorone.ai/v1",
        "kind": "Dataset",
        "metadata": {"name": "bench"},
        "spec": {"displayName": "bench", "format": "jsonl", "source": "/datasets/train.jsonl"},
    }
    http.post("/apis/training.tensorone.ai/v1/namespaces/default/datasets", json=dataset).raise_for_status()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
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
    own_writes: float  # per job: its own writes but for usage flushes (see RequestLog.own_writes)
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
    """One fresh sandbox, one fresh operator process, N jobs; figures from the API server's audit log."""
    directory = tmp / f"{which.split()[0]}-{n}"
    with running_sandbox(directory, gpus=NODES, run_pods="simulate", audit_policy=AUDIT_POLICY) as sandbox:
        with sandbox.http() as http:
            http.headers["User-Agent"] = AGENT
            setup_cluster(sandbox, http)
        port = free_port()
        env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig_path), "PYTHONUNBUFFERED": "1"}
        log_path = sandbox.dir / "operator.log"

        def log() -> RequestLog:
            return RequestLog.from_audit(sandbox.audit_events())

        with operator_process(operator_command(which, sandbox, port), env, log_path) as process:
            if not wait_for(lambda: log().watching_jobs, 60):
                raise RuntimeError(
                    f"{which} never watched TrainingJobs; see {log_path}:\n{log_path.read_text()}"
                )
            time.sleep(1.0)  # the operator's initial listing settles; its start-up requests are not counted
            started = time.time()
            operator_cpu, sandbox_cpu = cpu_seconds(process.pid), own_cpu_seconds()
            control_cpu = sum(cpu_seconds(p.pid) for p in sandbox.sandbox.control.processes.values())  # type: ignore[union-attr]
            creator = threading.Thread(target=asyncio.run, args=(create_jobs(sandbox, n),))
            creator.start()

            def done(current: RequestLog) -> bool:
                finished = current.job_running if which == OPERATORS[1] else current.pod_running
                return len(current.pod_created) >= n and len(finished) >= n

            complete = wait_for(lambda: done(log()), timeout, interval=1.0)
            creator.join()

            def last_write() -> float:
                writes = [t for t, verb, _, operator in log().requests if verb in WRITES and operator]
                return max(writes, default=0.0)

            wait_for(lambda: time.time() - last_write() > 1.0, 10, interval=0.5)  # quiet for a second
            ended = time.time()
            operator_cpu = cpu_seconds(process.pid) - operator_cpu
            sandbox_cpu = own_cpu_seconds() - sandbox_cpu
            control_cpu = (
                sum(cpu_seconds(p.pid) for p in sandbox.sandbox.control.processes.values()) - control_cpu
            )  # type: ignore[union-attr]
            peak = peak_rss_bytes(process.pid)
            own = own_request_count(port) if which == OPERATORS[1] else math.nan
        final = log()
    done_key = final.job_running if which == OPERATORS[1] else final.pod_running
    counted = [
        (verb, resource)
        for t, verb, resource, operator in final.requests
        if operator and started <= t <= ended
    ]
    # A job still without its pod (or not running) when the wait ran out counts with the time it waited: a lower
    # bound, so an incomplete run's percentiles understate, never flatter by dropping the slowest jobs.
    latencies = [final.pod_created.get(j, ended) - t for j, t in final.job_created.items()]
    running = [done_key.get(j, ended) - t for j, t in final.job_created.items()]
    first = min(final.job_created.values(), default=started)
    last = max(final.pod_created.values(), default=math.nan)
    return Run(
        operator=which,
        n=n,
        latencies=latencies,
        running_latencies=running,
        jobs_per_second=len(final.pod_created) / (last - first) if final.pod_created else math.nan,
        writes=sum(1 for verb, _ in counted if verb in WRITES),
        own_writes=sum(final.own_writes[j] for j in final.job_created) / n,
        requests=len(counted),
        peak_rss=peak,
        own_requests=own,
        operator_cpu=operator_cpu,
        sandbox_cpu=sandbox_cpu + control_cpu,
        complete=complete,
        breakdown=Counter(f"{verb} {resource}" for verb, resource in counted),
    )


def wait_budget(n: int) -> float:
    """Seconds to wait for N jobs to run: keeps N=1000 bounded; a run that needs longer is marked incomplete."""
    return 30 + 0.3 * n


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
         base.pct(base.latencies, q) * 1000, "ms",
         {(99, 500): "≤ 3 s", (99, 1000): "≤ 10 s"}.get((q, n), ""), "")
        for q in (50, 99)
    ]  # fmt: skip
    rows += [
        ("jobs/s (create → pod created)", ours.jobs_per_second, base.jobs_per_second, "jobs/s", "", ""),
        ("create → running p50", ours.pct(ours.running_latencies, 50) * 1000,
         base.pct(base.running_latencies, 50) * 1000, "ms", "",
         "operator: status phase running; baseline: its pod running"),
        ("API writes per job (to running)", ours.writes / n, base.writes / n, "writes", "≤ 8 per job",
         "all the operator's writes until every job runs, over N (the usage early jobs flush every 30 s while later "
         "ones start included)"),
        ("API writes per job, its own to running", ours.own_writes, base.own_writes, "writes", "≤ 8 per job",
         "each job's own writes (the job, its children, its events), but for its usage flushes once running"),
        ("API requests per job (to running)", ours.requests / n, base.requests / n, "requests", "",
         f"operator's own metric: {ours.own_requests / n:.1f}/job (its own client over the whole process, kopf excluded)"),
        ("operator peak RSS (VmHWM)", ours.peak_rss / 2**20, base.peak_rss / 2**20, "MiB", "", ""),
        ("operator CPU per job", ours.operator_cpu / n * 1000, base.operator_cpu / n * 1000, "ms", "ratio ≤ 2.5",
         "the operator process alone, create → all running and quiet"),
        ("control plane + kubelet + load generator CPU per job", ours.sandbox_cpu / n * 1000,
         base.sandbox_cpu / n * 1000, "ms", "",
         f"etcd, kube-apiserver, controller manager, scheduler and this process, on {os.cpu_count()} CPUs"),
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
          f"real kube-apiserver, pods reported running at once ({os.cpu_count()} CPUs)")  # fmt: skip
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
              f"p99 {ours.pct(ours.latencies, 99) / base.pct(base.latencies, 99):.2f}x; "
              f"CPU/job {ours.operator_cpu / base.operator_cpu:.2f}x (target ≤ 2.5); "
              f"writes/job {ours.writes / ours.n:.1f}, its own to running {ours.own_writes:.2f} (target ≤ 8)")  # fmt: skip
    for r in pairs[-1]:
        calls = ", ".join(f"{k} {v / r.n:.2f}" for k, v in sorted(r.breakdown.items()))
        print(f"requests per job at N={r.n}, {r.operator}: {calls}")
    print("\nAs rows of benchmarks/RESULTS.md:")
    print(render_table(to_results(pairs)), end="")


if __name__ == "__main__":
    main()
