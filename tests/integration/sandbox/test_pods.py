"""Pods on the sandbox node agent show exactly the status a real cluster shows for each outcome."""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tensorone.sandbox.testing import RunningSandbox
from tests.integration.sandbox.helpers import Api, pod

PODS = "/api/v1/namespaces/default/pods"
PY = sys.executable


def _phase(api: Api, name: str, *phases: str, timeout: float = 15) -> dict[str, Any]:
    return api.wait_for(
        f"{PODS}/{name}", lambda r: r.json().get("status", {}).get("phase") in phases, timeout=timeout
    ).json()


def _terminated(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["status"]["containerStatuses"][0]["state"]["terminated"]


def test_pod_that_exits_zero_succeeds_with_reason_completed(api: Api) -> None:
    api.post(PODS, pod("ok", ["python", "-c", "print('hello')"]))
    done = _phase(api, "ok", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded"
    assert _terminated(done)["exitCode"] == 0
    assert _terminated(done)["reason"] == "Completed"
    ready = next(c for c in done["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    assert api.get(f"{PODS}/ok/log").text == "hello\n"


def test_pod_whose_command_fails_is_failed_with_exit_code_reason_error_and_termination_message(
    api: Api,
) -> None:
    script = "import sys; open('/dev/termination-log', 'w').write('bad config: lr'); sys.exit(3)"
    api.post(PODS, pod("bad", ["python", "-c", script]))
    done = _phase(api, "bad", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Failed"
    assert _terminated(done)["exitCode"] == 3
    assert _terminated(done)["reason"] == "Error"
    assert _terminated(done)["message"] == "bad config: lr"


def test_fallback_to_logs_on_error_uses_log_tail_as_message(api: Api) -> None:
    container = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    api.post(
        PODS, pod("bad", ["python", "-c", "import sys; print('boom'); sys.exit(1)"], container=container)
    )
    assert _terminated(_phase(api, "bad", "Failed"))["message"] == "boom"


def test_pod_that_fits_no_node_stays_pending_unschedulable_with_scheduler_message(api: Api) -> None:
    container = {"resources": {"limits": {"nvidia.com/gpu": "16"}}}
    api.post(PODS, pod("big", ["python", "-c", "pass"], container=container))
    pending = api.wait_for(
        f"{PODS}/big",
        lambda r: any(c["type"] == "PodScheduled" for c in r.json()["status"].get("conditions", [])),
    )
    condition = next(c for c in pending.json()["status"]["conditions"] if c["type"] == "PodScheduled")
    assert pending.json()["status"]["phase"] == "Pending"
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == (
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes"
        " are available: 1 No preemption victims found for incoming pod."
    )
    events = api.get("/api/v1/namespaces/default/events", fieldSelector="involvedObject.name=big").json()[
        "items"
    ]
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "FailedScheduling")]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param(
            {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "1 node(s) didn't match Pod's node affinity/selector",
            id="node-selector",
        ),
        pytest.param(
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "nvidia.com/gpu.product",
                                            "operator": "In",
                                            "values": ["Tesla-V100-SXM2-16GB"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            "1 node(s) didn't match Pod's node affinity/selector",
            id="node-affinity",
        ),
    ],
)
def test_pod_whose_selector_matches_no_node_is_unschedulable(
    api: Api, spec: dict[str, Any], reason: str
) -> None:
    api.post(PODS, pod("p", ["python", "-c", "pass"], **spec))
    pending = api.wait_for(
        f"{PODS}/p",
        lambda r: any(c["type"] == "PodScheduled" for c in r.json()["status"].get("conditions", [])),
    )
    condition = next(c for c in pending.json()["status"]["conditions"] if c["type"] == "PodScheduled")
    assert condition["message"].startswith(f"0/1 nodes are available: {reason}.")


def test_gpu_requests_are_accounted_against_node_capacity(api: Api) -> None:
    gpus = {"resources": {"limits": {"nvidia.com/gpu": "6"}}}
    api.post(PODS, pod("first", ["python", "-c", "import time; time.sleep(30)"], container=gpus))
    api.wait_for(f"{PODS}/first", lambda r: bool(r.json()["spec"].get("nodeName")))
    api.post(PODS, pod("second", ["python", "-c", "pass"], container=gpus))
    pending = api.wait_for(f"{PODS}/second", lambda r: bool(r.json()["status"].get("conditions")))
    assert "Insufficient nvidia.com/gpu" in pending.json()["status"]["conditions"][0]["message"]
    api.delete(f"{PODS}/first", {"gracePeriodSeconds": 0})
    api.wait_for(f"{PODS}/second", lambda r: bool(r.json()["spec"].get("nodeName")))


def test_deleted_pod_gets_sigterm_then_disappears_after_graceful_exit(
    api: Api, sandbox: RunningSandbox
) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('got sigterm', flush=True), sys.exit(0)))\n"
        "print('running', flush=True)\n"
        "time.sleep(60)\n"
    )
    api.post(PODS, pod("svc", ["python", "-c", script], terminationGracePeriodSeconds=10))
    api.wait_for(f"{PODS}/svc/log", lambda r: r.text == "running\n")
    deleting = api.delete(f"{PODS}/svc").json()
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 10
    api.wait_for(f"{PODS}/svc", lambda r: r.status_code == 404)
    log = sandbox.dir / "pods/default/svc/containers/main/log"
    assert log.read_text() == "running\ngot sigterm\n"


def test_pod_ignoring_sigterm_is_killed_after_grace_period(api: Api) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    api.post(PODS, pod("stubborn", ["python", "-c", script], terminationGracePeriodSeconds=1))
    api.wait_for(f"{PODS}/stubborn/log", lambda r: r.text == "up\n")
    started = time.monotonic()
    api.delete(f"{PODS}/stubborn")
    api.wait_for(f"{PODS}/stubborn", lambda r: r.status_code == 404)
    assert time.monotonic() - started >= 1.0


def test_container_env_resolves_values_field_refs_secrets_and_config_maps(api: Api) -> None:
    api.post(
        "/api/v1/namespaces/default/secrets",
        {"metadata": {"name": "s"}, "data": {"token": base64.b64encode(b"t0k").decode()}},
    )
    api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}, "data": {"mode": "fast"}})
    env = [
        {"name": "PLAIN", "value": "v"},
        {"name": "EXPANDED", "value": "$(PLAIN)-x"},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "mode"}}},
    ]
    script = (
        "import os; print(' '.join(os.environ[k] for k in ['PLAIN','EXPANDED','NAME','TEAM','TOKEN','MODE']))"
    )
    api.post(PODS, pod("env", ["python", "-c", script], container={"env": env}, labels={"team": "ml"}))
    _phase(api, "env", "Succeeded")
    assert api.get(f"{PODS}/env/log").text == "v v-x env ml t0k fast\n"


def test_missing_secret_reference_is_create_container_config_error(api: Api) -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    api.post(PODS, pod("p", ["python", "-c", "pass"], container={"env": env}))
    waiting = api.wait_for(f"{PODS}/p", lambda r: bool(r.json()["status"].get("containerStatuses")))
    state = waiting.json()["status"]["containerStatuses"][0]["state"]["waiting"]
    assert state == {"reason": "CreateContainerConfigError", "message": 'secret "nope" not found'}
    assert waiting.json()["status"]["phase"] == "Pending"


def test_volumes_are_local_folders_and_mount_paths_are_rewritten_in_args_and_env(
    api: Api, sandbox: RunningSandbox
) -> None:
    api.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "cfg"}, "data": {"job.json": "{}"}}
    )
    script = (
        "import os, sys; open(sys.argv[1] + '/ckpt', 'w').write('w');"
        " print(open(os.environ['CONFIG'] + '/job.json').read())"
    )
    container = {
        "args": ["/checkpoints"],
        "env": [{"name": "CONFIG", "value": "/etc/tensorone"}],
        "volumeMounts": [
            {"name": "ckpt", "mountPath": "/checkpoints"},
            {"name": "cfg", "mountPath": "/etc/tensorone"},
        ],
    }
    volumes = [
        {"name": "ckpt", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
    ]
    api.post(PODS, pod("vol", ["python", "-c", script], container=container, volumes=volumes))
    _phase(api, "vol", "Succeeded", "Failed")
    assert api.get(f"{PODS}/vol/log").text == "{}\n"
    assert (sandbox.dir / "volumes/default/data/ckpt").read_text() == "w"


def test_paths_named_inside_a_mounted_config_file_reach_the_mounted_volume(
    api: Api, sandbox: RunningSandbox
) -> None:
    # In a real container a config file naming /datasets/train.txt finds the file on the mounted volume.
    (sandbox.dir / "volumes/default/datasets").mkdir(parents=True)
    (sandbox.dir / "volumes/default/datasets/train.txt").write_text("hello")
    api.post(
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "job"}, "data": {"job.json": '{"dataset": "/datasets/train.txt"}'}},
    )
    script = "import json; print(open(json.load(open('/etc/tensorone/job.json'))['dataset']).read())"
    container = {
        "volumeMounts": [
            {"name": "data", "mountPath": "/datasets", "readOnly": True},
            {"name": "cfg", "mountPath": "/etc/tensorone"},
        ],
    }
    volumes = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}},
        {"name": "cfg", "configMap": {"name": "job"}},
    ]
    api.post(PODS, pod("cfgpath", ["python", "-c", script], container=container, volumes=volumes))
    _phase(api, "cfgpath", "Succeeded", "Failed")
    assert api.get(f"{PODS}/cfgpath/log").text == "hello\n"


def test_processes_a_container_leaves_behind_end_when_its_main_process_ends(api: Api, tmp_path: Path) -> None:
    # On a cluster the container's PID namespace goes with its main process, children included.
    marker = tmp_path / "child-still-alive"
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w').write('alive')"
    script = (
        f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}]); print('main done')"
    )
    api.post(PODS, pod("orphans", ["python", "-c", script]))
    _phase(api, "orphans", "Succeeded", "Failed")
    time.sleep(4)
    assert not marker.exists()


def test_pod_hostname_and_headless_service_names_resolve_to_loopback(api: Api) -> None:
    script = "import socket; print(socket.gethostbyname('w-0.job.default.svc.cluster.local'), socket.gethostbyname('w-0.job'))"
    api.post(PODS, pod("w-0", ["python", "-c", script], hostname="w-0", subdomain="job"))
    _phase(api, "w-0", "Succeeded", "Failed")
    assert api.get(f"{PODS}/w-0/log").text == "127.0.0.1 127.0.0.1\n"


def test_in_pod_kubernetes_client_uses_in_cluster_config(api: Api) -> None:
    script = (
        "import kubernetes; kubernetes.config.load_incluster_config();"
        " v1 = kubernetes.client.CoreV1Api();"
        " print(v1.read_namespaced_pod('client', 'default').metadata.name)"
    )
    api.post(PODS, pod("client", ["python", "-c", script]))
    done = _phase(api, "client", "Succeeded", "Failed", timeout=30)
    assert api.get(f"{PODS}/client/log").text == "client\n", done["status"]


def test_log_endpoint_supports_tail_lines_and_follow(api: Api) -> None:
    script = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)"
    api.post(PODS, pod("counter", ["python", "-c", script]))
    api.wait_for(f"{PODS}/counter/log", lambda r: r.status_code == 200)
    with api.client.stream("GET", f"{PODS}/counter/log", params={"follow": "true"}) as response:
        followed = "".join(response.iter_text())
    assert followed == "0\n1\n2\n"
    assert api.get(f"{PODS}/counter/log", tailLines=1).text == "2\n"


def test_logs_of_pod_with_two_containers_need_a_container_name(api: Api) -> None:
    manifest = pod("two", ["python", "-c", "pass"])
    manifest["spec"]["containers"].append(
        {"name": "side", "image": "i", "command": ["python", "-c", "print(1)"]}
    )
    api.post(PODS, manifest)
    _phase(api, "two", "Succeeded")
    response = api.get(f"{PODS}/two/log")
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "a container name must be specified for pod two, choose one of: [main side]"
    )
    assert api.get(f"{PODS}/two/log", container="side").text == "1\n"


def test_processes_do_not_outlive_the_sandbox(tmp_path: Path) -> None:
    from tensorone.sandbox.testing import running_sandbox

    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with running_sandbox(tmp_path / "sb") as sandbox:
        api = Api(sandbox.url)
        api.post(PODS, pod("sleeper", [PY, "-c", script]))
        api.wait_for(f"{PODS}/sleeper", lambda r: r.json()["status"].get("phase") == "Running")
        deadline = time.monotonic() + 10
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _running(pid):
        assert time.monotonic() < deadline, "pod process survived the sandbox"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process; it may vanish between two reads of /proc."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def test_pod_priority_comes_from_its_priority_class(api: Api) -> None:
    created = api.post(PODS, pod("p", ["python", "-c", "pass"], priorityClassName="tensorone-low")).json()
    assert created["spec"]["priority"] == 100
    assert created["spec"]["preemptionPolicy"] == "Never"
    missing = api.post(PODS, pod("q", ["python", "-c", "pass"], priorityClassName="nope"))
    assert missing.status_code == 403
    assert missing.json()["message"] == 'pods "q" is forbidden: no PriorityClass with name nope was found'


def test_higher_priority_pod_preempts_lower_priority_pod_when_gpus_run_out(api: Api) -> None:
    api.post("/apis/scheduling.k8s.io/v1/priorityclasses", {"metadata": {"name": "high"}, "value": 1000})
    gpus = {"resources": {"limits": {"nvidia.com/gpu": "8"}}}
    sleeper = ["python", "-c", "import time; time.sleep(60)"]
    api.post(PODS, pod("low", sleeper, container=gpus, terminationGracePeriodSeconds=1))
    api.wait_for(f"{PODS}/low", lambda r: r.json()["status"].get("phase") == "Running")
    api.post(PODS, pod("high", ["python", "-c", "pass"], container=gpus, priorityClassName="high"))
    api.wait_for(f"{PODS}/low", lambda r: r.status_code == 404)
    done = _phase(api, "high", "Succeeded")
    assert done["spec"]["nodeName"] == "sandbox-a100"
    events = api.get("/api/v1/namespaces/default/events", fieldSelector="reason=Preempted").json()["items"]
    assert [e["involvedObject"]["name"] for e in events] == ["low"]
