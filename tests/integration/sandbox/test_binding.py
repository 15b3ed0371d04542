"""Binding a pod is one write, as in Kubernetes: watchers see nodeName and PodScheduled=True together.

The real API server's Binding (``POST pods/NAME/binding``, kube-scheduler's path) sets ``spec.nodeName`` and
the ``PodScheduled=True`` condition in one storage update, so a watch never sees a bound pod without its
condition, nor two MODIFIED events for one bind.
"""

from __future__ import annotations

from typing import Any

from tests.integration.sandbox.helpers import Api, pod, watch_events

PODS = "/api/v1/namespaces/default/pods"
NODE = "sandbox-a100"


def _scheduled(obj: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodScheduled"), None)


def test_the_scheduler_binds_a_pod_in_one_event_with_node_name_and_pod_scheduled_true(api: Api) -> None:
    created = api.post(PODS, pod("bound", ["python", "-c", "pass"])).json()

    [event] = watch_events(api, PODS, 1, timeout=5, resourceVersion=created["metadata"]["resourceVersion"])

    assert event["type"] == "MODIFIED"
    assert event["object"]["spec"]["nodeName"] == NODE
    condition = _scheduled(event["object"])
    assert condition is not None
    assert (condition["status"], condition["lastProbeTime"]) == ("True", None)
    assert condition["lastTransitionTime"]


def test_binding_subresource_binds_once_with_its_annotations_and_refuses_a_second_bind(api: Api) -> None:
    created = api.post(PODS, pod("manual", ["python", "-c", "pass"], schedulerName="other-scheduler")).json()
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "manual", "annotations": {"example.com/bound-by": "test"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
    }

    response = api.post(f"{PODS}/manual/binding", binding)
    [event] = watch_events(api, PODS, 1, timeout=5, resourceVersion=created["metadata"]["resourceVersion"])
    again = api.post(f"{PODS}/manual/binding", binding)

    assert response.status_code == 201, response.text
    assert event["type"] == "MODIFIED"
    assert event["object"]["spec"]["nodeName"] == NODE
    assert event["object"]["metadata"]["annotations"] == {"example.com/bound-by": "test"}
    condition = _scheduled(event["object"])
    assert condition is not None
    assert condition["status"] == "True"
    assert again.status_code == 409
    assert again.json()["message"] == (
        f'Operation cannot be fulfilled on pods/binding "manual": pod manual is already assigned to node "{NODE}"'
    )
