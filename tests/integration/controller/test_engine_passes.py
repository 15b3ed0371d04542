"""One operator pass after another, driven by hand against the sandbox API (no kopf): what each pass writes.

kopf wakes a job's pass on any event of the job or its pods, so a pass can run before the watch has shown the
pod the previous pass created. Such a pass must not create it again: on a cluster that is a POST answered 409,
one wasted API write per job. And a new job's children are made before its first pass (which waits for kopf's
finalizer), by the same rules as that pass.
"""

from __future__ import annotations

from tensorone.catalog.gpus import load_catalog
from tensorone.controller.kube import KubeClient, load_connection
from tensorone.controller.metrics import OperatorMetrics
from tensorone.controller.pods import PodView, parse_pod
from tensorone.controller.reconcile import Engine
from tensorone.controller.settings import load_settings
from tests.integration.controller.conftest import PODS, Cluster


def _engine(cluster: Cluster) -> Engine:
    settings = load_settings(cluster.settings_path)
    client = KubeClient(load_connection(cluster.sandbox.kubeconfig_path))
    return Engine(client, settings, load_catalog(settings.pricing_config), OperatorMetrics())


async def test_a_pass_that_does_not_see_its_new_pod_yet_does_not_create_it_again(cluster: Cluster) -> None:
    cluster.create_job("job-lag")
    engine = _engine(cluster)
    client = engine.client
    try:
        await engine.reconcile(cluster.job("job-lag"), [])  # admission: status, support objects, the pod
        assert [p["metadata"]["name"] for p in cluster.pods("job-lag")] == ["job-lag-worker-0"]
        assert cluster.job("job-lag")["status"]["phase"] == "pending"
        posts = client.requests["POST"]

        await engine.reconcile(cluster.job("job-lag"), [])  # woken before the watch shows the pod
        assert client.requests["POST"] == posts  # no pod POST (and no event) the second time
        assert len(cluster.pods("job-lag")) == 1
    finally:
        await client.close()


async def test_workers_made_before_the_first_pass_are_told_by_it_and_not_made_again(cluster: Cluster) -> None:
    cluster.create_job("job-ahead")
    engine = _engine(cluster)
    try:
        await engine.create_ahead(cluster.job("job-ahead"), [])  # while kopf's finalizer is on its way
        assert [p["metadata"]["name"] for p in cluster.pods("job-ahead")] == ["job-ahead-worker-0"]
        assert "phase" not in (cluster.job("job-ahead").get("status") or {})  # the status waits for the pass
        posts = engine.client.requests["POST"]

        await engine.reconcile(cluster.job("job-ahead"), [])
        assert cluster.job("job-ahead")["status"]["phase"] == "pending"
        assert engine.client.requests["POST"] == posts + 1  # the transition's event, nothing created again
        [event] = cluster.events("job-ahead")
        assert event["reason"] == "Pending"
        assert "created 1 worker pod(s) for attempt 1" in event["message"]
    finally:
        await engine.client.close()


async def test_nothing_is_made_ahead_for_a_job_admission_refuses(cluster: Cluster) -> None:
    cluster.create_job("job-no-data", dataset="missing")
    engine = _engine(cluster)
    try:
        await engine.create_ahead(cluster.job("job-no-data"), [])
        assert cluster.pods("job-no-data") == []
        assert engine.client.requests["POST"] == 0
        await engine.reconcile(cluster.job("job-no-data"), [])
        assert cluster.job("job-no-data")["status"]["phase"] == "queued"  # waiting for its dataset
        assert cluster.pods("job-no-data") == []
    finally:
        await engine.client.close()


async def test_the_echo_of_a_pass_own_status_write_is_nothing_new_to_decide_on(cluster: Cluster) -> None:
    """The job's daemon skips a pass whose inputs the last pass already decided on: the watch's echo of the
    pass's own status write, or a pod change no pass reads. A change a pass reads is always new."""
    cluster.create_job("job-echo")
    engine = _engine(cluster)
    try:
        seen = cluster.job("job-echo")
        await engine.reconcile(seen, [])
        echo = cluster.job("job-echo")  # what the watch shows next: the status the pass just wrote
        assert echo["status"]["phase"] == "pending"
        assert echo["metadata"]["resourceVersion"] != seen["metadata"]["resourceVersion"]
        assert engine.inputs(echo, []) == engine.inputs(seen, [])

        def annotate() -> tuple[PodView, PodView] | None:
            """(the pod, the pod with an annotation and nothing else new): guarded by the pod's resourceVersion, as
            the scheduler and the kubelet change the pod meanwhile (None: they did, try again)."""
            [raw] = cluster.pods("job-echo")
            meta = {
                "annotations": {"example.com/note": "read by no pass"},
                "resourceVersion": raw["metadata"]["resourceVersion"],
            }
            response = cluster.http.patch(
                f"{PODS}/{raw['metadata']['name']}",
                json={"metadata": meta},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert response.status_code in (200, 409), response.text
            return (parse_pod(raw), parse_pod(response.json())) if response.status_code == 200 else None

        pod, annotated = cluster.wait("an annotation written on an unchanged pod", annotate)
        assert engine.inputs(echo, [pod]) != engine.inputs(echo, [])  # the new pod is news
        assert annotated.resource_version != pod.resource_version
        assert engine.inputs(echo, [annotated]) == engine.inputs(echo, [pod])

        cluster.patch_spec("job-echo", suspend=True)  # a user's change of the job is news
        assert engine.inputs(cluster.job("job-echo"), [pod]) != engine.inputs(echo, [pod])
    finally:
        await engine.client.close()
