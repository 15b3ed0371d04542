"""Facade latency and throughput: POST job, GET job, GET list (1,000 jobs) beside ``/healthz`` on the same
server in the same run, at concurrency 16 on loopback, the facade talking to the sandbox API.

Targets: GET job p99 ≤ 3 × healthz p99; list of 1,000 jobs p99 < 250 ms.
Run: ``python -m benchmarks.facade_latency [--jobs 1000] [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.results import Result
from tensorone.facade.kube import Connection, KubeClient
from tensorone.facade.testing import bootstrap_key, free_port, install_crds
from tensorone.sandbox.testing import running_sandbox

CONCURRENCY = 16


async def measure(
    client: httpx.AsyncClient, n: int, request: Callable[[int], tuple[str, str, object]]
) -> tuple[list[float], float, list[httpx.Response]]:
    """Send ``n`` requests, ``CONCURRENCY`` at a time; latencies (s), wall time, responses."""
    latencies: list[float] = []
    responses: list[httpx.Response] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            method, path, body = request(i)
            start = time.perf_counter()
            response = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - start)
            responses.append(response)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies, time.perf_counter() - start, responses


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def bench(url: str, key: str, jobs: int, requests: int) -> dict[str, tuple[float, float, float]]:
    results: dict[str, tuple[float, float, float]] = {}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:
        dataset = (
            await client.post(
                "/v2/datasets", json={"name": "bench", "format": "jsonl", "source": "/datasets/d.jsonl"}
            )
        ).json()["id"]
        body = {"name": "bench", "modelType": "llm", "datasetId": dataset, "config": {"baseModel": "gpt2"}}

        def record(name: str, latencies: list[float], wall: float, responses: list[httpx.Response]) -> None:
            bad = [r.status_code for r in responses if r.status_code >= 300]
            assert not bad, f"{name}: {len(bad)} failed requests, e.g. {bad[0]}"
            results[name] = (pct(latencies, 50) * 1000, pct(latencies, 99) * 1000, len(latencies) / wall)

        record(
            "POST /v2/training/jobs",
            *(await measure(client, jobs, lambda i: ("POST", "/v2/training/jobs", body))),
        )
        job_id = (await client.get("/v2/training/jobs", params={"limit": 1})).json()["jobs"][0]["id"]
        for _ in range(2):  # healthz measured before and after, in the same run; the worse one is kept
            hz = await measure(client, requests, lambda i: ("GET", "/healthz", None))
            if "GET /healthz" not in results or pct(hz[0], 99) * 1000 > results["GET /healthz"][1]:
                record("GET /healthz", *hz)
            if "GET /v2/training/jobs/{id}" not in results:
                record(
                    "GET /v2/training/jobs/{id}",
                    *(
                        await measure(
                            client, requests, lambda i: ("GET", f"/v2/training/jobs/{job_id}", None)
                        )
                    ),
                )
                listing = await measure(client, requests // 4, lambda i: ("GET", "/v2/training/jobs", None))
                total = listing[2][0].json()["pagination"]["total"]
                assert total == jobs, f"list total {total} != {jobs}"
                record(f"GET /v2/training/jobs ({total} jobs)", *listing)
    return results


def measure_endpoints(jobs: int, requests: int) -> dict[str, tuple[float, float, float]]:
    """p50 ms, p99 ms and req/s per endpoint, against a fresh sandbox holding ``jobs`` jobs."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(Path(tmp) / "sandbox", run_pods=False) as sandbox,
    ):
        kubeconfig = str(sandbox.kubeconfig_path)
        asyncio.run(install_crds(KubeClient(Connection.from_kubeconfig(kubeconfig))))
        key = bootstrap_key(kubeconfig, "bench")
        port = free_port()
        env = {
            **os.environ,
            "TENSORONE_FACADE_RATE_LIMIT_PER_SECOND": "1000000",
            "TENSORONE_FACADE_RATE_LIMIT_BURST": "1000000",
            "TENSORONE_FACADE_MAX_ACTIVE_JOBS": str(jobs + 10),
            "TENSORONE_FACADE_MAX_ACTIVE_GPUS": str(jobs + 10),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "tensorone", "serve", "--kubeconfig", kubeconfig, "--port", str(port),
             "--log-level", "warning"],
            env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{url}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            return asyncio.run(bench(url, key, jobs, requests))
        finally:
            server.terminate()
            server.wait(timeout=15)


def run(quick: bool) -> list[Result]:
    """The figures for ``python -m benchmarks``: each endpoint beside ``/healthz`` on the same server."""
    jobs, requests = (100, 400) if quick else (1000, 2000)
    results = measure_endpoints(jobs, requests)
    healthz = results["GET /healthz"]
    baseline = "GET /healthz"
    out = []
    for name, (p50, p99, rps) in results.items():
        if name == baseline:
            continue
        listing = name.startswith("GET /v2/training/jobs (")
        target = "ratio ≤ 3" if name == "GET /v2/training/jobs/{id}" else ""
        out += [
            Result("facade_latency", f"{name} p50", p50, "ms", baseline, healthz[0]),
            Result("facade_latency", f"{name} p99", p99, "ms", baseline, healthz[1],
                   "< 250 ms" if listing else target),
            Result("facade_latency", f"{name} throughput", rps, "req/s", baseline, healthz[2]),
        ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    results = measure_endpoints(args.jobs, args.requests)
    print(f"facade latency, concurrency {CONCURRENCY}, loopback, sandbox API ({os.cpu_count()} CPUs)")
    print(f"{'endpoint':40} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, (p50, p99, rps) in results.items():
        print(f"{name:40} {p50:8.2f} {p99:8.2f} {rps:8.0f}")
    healthz_p99 = results["GET /healthz"][1]
    get_p99 = results["GET /v2/training/jobs/{id}"][1]
    list_p99 = next(v[1] for k, v in results.items() if k.startswith("GET /v2/training/jobs ("))
    print(f"GET job p99 / healthz p99 = {get_p99 / healthz_p99:.2f} (target ≤ 3)")
    print(f"list of {args.jobs} jobs p99 = {list_p99:.1f} ms (target < 250)")


if __name__ == "__main__":
    main()
