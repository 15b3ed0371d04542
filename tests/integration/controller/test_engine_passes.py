"""One operator pass after another, driven by hand against the sandbox API (no kopf): what each pass writes.

kopf wakes a job's pass on any event of the job or its pods, so a pass can run before the watch has shown the
pod the previous pass created. Such a pass must not create it again: on a cluster that is a POST answered 409,
one wasted API write per job.
"""

from __future__ import annotations

from tensorone.catalog.gpus import load_catalog
from tensorone.controller.kube import KubeClient, load_connection
from tensorone.controller.metrics import OperatorMetrics
from tensorone.controller.reconcile import Engine
from tensorone.controller.settings import load_settings
from tests.integration.controller.conftest import Cluster


async def test_a_pass_that_does_not_see_its_new_pod_yet_does_not_create_it_again(cluster: Cluster) -> None:
    cluster.create_job("job-lag")
    settings = load_settings(cluster.settings_path)
    client = KubeClient(load_connection(cluster.sandbox.kubeconfig_path))
    engine = Engine(client, settings, load_catalog(settings.pricing_config), OperatorMetrics())
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
