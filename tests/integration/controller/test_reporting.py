"""The report endpoint against the real API server: which tokens it takes, from which pods, and what it writes.

Tokens are made as the kubelet makes a worker's: a TokenRequest bound to the worker pod, for the reporting audience
(the admin asks; the worker pod itself holds only the projected one). A token for the API server's own audience,
or one bound to a pod that is not a current worker of a running job, is refused; a valid one writes only the
trainer's fields.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from tensorone.api import names
from tensorone.api.reporting import MAX_REPORT_HISTORY, REPORT_AUDIENCE
from tensorone.sandbox.pki import create_serving_tls
from tests.integration.controller.conftest import JOBS, Cluster, fake_code

NAMESPACE = "default"
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"


def pod_token(cluster: Cluster, pod: dict[str, Any], audience: str | None = REPORT_AUDIENCE) -> str:
    """A token bound to ``pod`` (its ServiceAccount), as the kubelet requests it for the projected volume."""
    account = pod["spec"].get("serviceAccountName") or "default"
    spec: dict[str, Any] = {
        "expirationSeconds": 600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod["metadata"]["name"],
                           "uid": pod["metadata"]["uid"]},
    }  # fmt: skip
    if audience is not None:
        spec["audiences"] = [audience]
    response = cluster.http.post(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{account}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["status"]["token"]
    return token


def report_url(cluster: Cluster) -> str:
    url: str = yaml.safe_load(cluster.settings_path.read_text())["reportUrl"]
    return url


def endpoint_trust(cluster: Cluster) -> ssl.SSLContext:
    """What a worker's relay trusts: the CA the operator gives worker pods."""
    ca_file = yaml.safe_load(cluster.settings_path.read_text())["reportCaFile"]
    return ssl.create_default_context(cafile=ca_file)


def post(cluster: Cluster, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        report_url(cluster), json=body, headers=headers, timeout=10, verify=endpoint_trust(cluster)
    )


def running_worker(cluster: Cluster, job: str) -> dict[str, Any]:
    def worker() -> dict[str, Any] | None:
        pods = [p for p in cluster.pods(job) if (p.get("status") or {}).get("phase") == "Running"]
        return pods[0] if pods else None

    cluster.wait_phase(job, "running")
    found: dict[str, Any] = cluster.wait(f"{job}'s worker running", worker)
    return found


def test_worker_pods_hold_only_a_reporting_token_the_api_server_refuses(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-cred", config={"customCode": fake_code(report="no")})
    pod = running_worker(cluster, "job-cred")
    assert pod["spec"]["automountServiceAccountToken"] is False
    audiences = [
        source["serviceAccountToken"].get("audience")
        for volume in pod["spec"]["volumes"]
        for source in (volume.get("projected") or {}).get("sources", [])
        if "serviceAccountToken" in source
    ]
    assert audiences == [REPORT_AUDIENCE]
    # No per-job ServiceAccount, Role or RoleBinding (three writes per job fewer).
    for kind in ("roles", "rolebindings"):
        assert cluster.http.get(f"{RBAC}/{kind}").json()["items"] == []
    accounts = cluster.http.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts").json()["items"]
    assert [a["metadata"]["name"] for a in accounts] == ["default"]
    # The worker's token cannot call the Kubernetes API: 401, whatever it asks.
    token = pod_token(cluster, pod)
    tls = ssl.create_default_context(cafile=str(cluster.sandbox.ca_file))
    api = httpx.Client(base_url=cluster.sandbox.url, verify=tls, timeout=10)
    auth = {"Authorization": f"Bearer {token}"}
    patch = api.patch(
        f"{JOBS}/job-cred/status",
        json={"status": {"phase": "completed"}},
        headers={**auth, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 401
    assert api.get("/api/v1/namespaces/default/pods", headers=auth).status_code == 401
    # ... and a token for the API server's audience, bound to the same pod, is no reporting token.
    assert (
        post(cluster, pod_token(cluster, pod, audience=None), {"progress": {"currentStep": 1}}).status_code
        == 401
    )
    assert cluster.job("job-cred")["status"]["phase"] == "running"


def test_a_current_worker_writes_only_its_own_jobs_trainer_fields(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-a", config={"customCode": fake_code(report="no")})
    cluster.create_job("job-b", config={"customCode": fake_code(report="no")})
    token = pod_token(cluster, running_worker(cluster, "job-a"))
    running_worker(cluster, "job-b")

    taken = post(
        cluster, token, {"progress": {"currentStep": 7, "totalSteps": 10}, "metrics": {"currentLoss": 0.5}}
    )
    assert taken.status_code == 202, taken.text
    status = cluster.wait(
        "the report written",
        lambda: (s := cluster.job("job-a")["status"]).get("progress", {}).get("currentStep") == 7 and s,
    )
    assert status["metrics"]["currentLoss"] == 0.5
    assert status["phase"] == "running"
    assert "progress" not in cluster.job("job-b")["status"]

    refusals = {
        "phase": {"phase": "completed"},
        "resourceUsage": {"resourceUsage": {"cost": 0}},
        "progress.percentage": {"progress": {"percentage": 1e9}},
        "metrics.currentLoss": {"metrics": {"currentLoss": float("inf")}},
        "checkpoints.0.id": {"checkpoints": [{"id": "../../other", "epoch": 0, "step": 1,
                                              "createdAt": "2026-01-01T00:00:00Z", "size": "1B", "sizeBytes": 1}]},
        "progress.currentStep": {"progress": {"currentStep": 3}},  # back from 7 within the attempt
    }  # fmt: skip
    for field, body in refusals.items():
        if field == "metrics.currentLoss":
            response = httpx.post(
                report_url(cluster),
                content=b'{"metrics": {"currentLoss": Infinity}}',
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                verify=endpoint_trust(cluster),
            )
        else:
            response = post(cluster, token, body)
        assert response.status_code == 400, (field, response.text)
        assert response.json()["error"]["field"] == field
    big = {"history": [{"step": i, "time": "2026-01-01T00:00:00Z", "loss": 1.0} for i in range(30000)]}
    assert post(cluster, token, big).status_code == 413
    assert post(cluster, None, {"progress": {"currentStep": 8}}).status_code == 401
    assert post(cluster, "not-a-token", {"progress": {"currentStep": 8}}).status_code == 401

    # Kubernetes gives a container's start and finish in whole seconds: a worker stopped within a second of its
    # start may show startedAt == finishedAt, and bills nothing. This one runs for more than two.
    time.sleep(2.5)
    # Once the job is stopped, its (former) worker's token writes nothing. (The worker itself may still report
    # while it stops, with its own step count: so the check is on a step it never reaches.)
    cluster.patch_spec("job-a", suspend=True, saveCheckpointOnStop=False)
    cluster.wait_phase("job-a", "cancelled")
    assert post(cluster, token, {"progress": {"currentStep": 10**9}}).status_code in {401, 403}
    time.sleep(1.5)  # longer than the write interval: a report that had been taken would be written by now
    after = cluster.job("job-a")["status"]
    assert after["progress"]["currentStep"] < 10**9
    assert after["phase"] == "cancelled"
    # Usage comes from the pod's own times (flushed by the operator's ledger), never from a report.
    cluster.wait(
        "the worker's time billed",
        lambda: cluster.job("job-a")["status"]["resourceUsage"]["gpuSeconds"] > 0,
        explain=lambda: (cluster.job("job-a")["status"], [p.get("status") for p in cluster.pods("job-a")]),
    )


def _point(step: int) -> dict[str, Any]:
    return {"step": step, "loss": 1.0 / step, "time": f"2026-01-01T00:00:{step % 60:02d}Z"}


def test_history_points_are_appended_once_each_even_when_a_batch_comes_again(cluster: Cluster) -> None:
    cluster.start_operator()
    cluster.create_job("job-h", config={"customCode": fake_code(report="no")})
    token = pod_token(cluster, running_worker(cluster, "job-h"))

    def steps() -> list[int]:
        return [p["step"] for p in cluster.job("job-h")["status"].get("history", [])]

    # New points before the whole history: the endpoint asks for it (409 naming the field), and takes nothing.
    asked = post(cluster, token, {"history": [_point(1)], "historySeq": 1, "progress": {"currentStep": 1}})
    assert asked.status_code == 409, asked.text
    assert asked.json()["error"]["field"] == "history"
    reset = {"history": [_point(1), _point(2)], "historySeq": 2, "historyReset": True}
    assert post(cluster, token, reset).status_code == 202
    cluster.wait("the whole history written", lambda: steps() == [1, 2])
    assert post(cluster, token, {"history": [_point(3)], "historySeq": 3}).status_code == 202
    # The same batch again (its answer was lost), then one holding it and a new point: each point lands once.
    assert post(cluster, token, {"history": [_point(3)], "historySeq": 3}).status_code == 202
    assert post(cluster, token, {"history": [_point(3), _point(4)], "historySeq": 4}).status_code == 202
    cluster.wait("the new points appended", lambda: steps() == [1, 2, 3, 4])
    time.sleep(1.5)  # longer than the write interval: nothing more comes
    assert steps() == [1, 2, 3, 4]
    assert cluster.job("job-h")["status"]["history"][3] == {**_point(4), "time": "2026-01-01T00:00:04Z"}

    # The history stays bounded: points that would take it past the limit are refused until a (thinned) reset.
    full = [_point(s) for s in range(5, MAX_REPORT_HISTORY + 2)]
    too_many = post(cluster, token, {"history": full, "historySeq": MAX_REPORT_HISTORY + 1})
    assert too_many.status_code == 409
    assert steps() == [1, 2, 3, 4]

    # A restarted operator has no count: it asks for the whole history, which then replaces the status's.
    cluster.kill_operators()
    cluster.start_operator()

    def answer() -> httpx.Response | None:
        try:
            response = post(cluster, token, {"history": [_point(5)], "historySeq": 5})
        except httpx.TransportError:
            return None  # not listening yet
        return None if response.status_code in (403, 503) else response  # 403: its jobs not known yet

    again = cluster.wait("the restarted endpoint", answer, timeout=60)
    assert again.status_code == 409, again.text
    whole = {"history": [_point(s) for s in range(1, 6)], "historySeq": 5, "historyReset": True}
    assert post(cluster, token, whole).status_code == 202
    cluster.wait("the history after the restart", lambda: steps() == [1, 2, 3, 4, 5])


def test_the_endpoint_answers_only_tls_clients_that_trust_its_ca(cluster: Cluster) -> None:
    cluster.start_operator()
    url = report_url(cluster)
    assert url.startswith("https://")
    cluster.wait(
        "the endpoint to answer over TLS",
        lambda: _answers(lambda: post(cluster, None, {"progress": {"currentStep": 1}}).status_code == 401),
    )
    # Plain HTTP (a token sent in clear text) gets no HTTP answer at all.
    with pytest.raises(httpx.HTTPError):
        httpx.post(
            url.replace("https://", "http://", 1),
            json={"progress": {"currentStep": 1}},
            headers={"Authorization": "Bearer eyJ.x.y"},
            timeout=10,
        )
    # A client that checks the certificate against the usual public CAs does not take it for the operator.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.post(url, json={}, timeout=10, verify=ssl.create_default_context())


def _answers(probe: Callable[[], bool]) -> bool:
    try:
        return probe()
    except httpx.TransportError:
        return False


def test_a_workers_relay_that_does_not_trust_the_endpoint_sends_no_report(cluster: Cluster) -> None:
    # The operator tells its workers to trust another CA than the one that signed its certificate (as when someone
    # on the path answers for it): the relay must not send the pod's token, and the job's status gets no report.
    stranger = create_serving_tls(
        cluster.settings_path.parent / "stranger-tls", common_name="stranger", ips=["10.0.0.1"], dns_names=[]
    )
    cluster.configure(reportCaFile=str(stranger.ca_cert))
    cluster.start_operator()
    cluster.create_job("job-untrusting", config={"customCode": fake_code(report="yes")})
    pod = running_worker(cluster, "job-untrusting")
    relay_log = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}/log"

    def refused() -> bool:
        response = cluster.http.get(relay_log, params={"container": names.REPORT_RELAY_CONTAINER})
        return response.status_code == 200 and "certificate is not trusted" in response.text

    cluster.wait("the relay to refuse the endpoint", refused, timeout=60)
    status = cluster.job("job-untrusting")["status"]
    assert status["phase"] == "running"
    assert "progress" not in status
