"""Pods on the sandbox node agent show exactly the status a real cluster shows for each outcome."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tensorone.sandbox.runtime import REPORT_TLS_FOLDER
from tensorone.sandbox.testing import RunningSandbox
from tests.integration.sandbox.helpers import Api, pod, processes_with, running

PY = sys.executable


def _phase(api: Api, name: str, *phases: str, timeout: float = 15) -> dict[str, Any]:
    return api.wait_for(
        f"{api.pods}/{name}", lambda r: r.json().get("status", {}).get("phase") in phases, timeout=timeout
    ).json()


def _terminated(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["status"]["containerStatuses"][0]["state"]["terminated"]


def test_pod_that_exits_zero_succeeds_with_reason_completed(api: Api) -> None:
    api.post(api.pods, pod("ok", ["python", "-c", "print('hello')"]))
    done = _phase(api, "ok", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded"
    assert _terminated(done)["exitCode"] == 0
    assert _terminated(done)["reason"] == "Completed"
    ready = next(c for c in done["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    assert api.get(f"{api.pods}/ok/log").text == "hello\n"


def test_pod_whose_command_fails_is_failed_with_exit_code_reason_error_and_termination_message(
    api: Api,
) -> None:
    script = "import sys; open('/dev/termination-log', 'w').write('bad config: lr'); sys.exit(3)"
    api.post(api.pods, pod("bad", ["python", "-c", script]))
    done = _phase(api, "bad", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Failed"
    assert _terminated(done)["exitCode"] == 3
    assert _terminated(done)["reason"] == "Error"
    assert _terminated(done)["message"] == "bad config: lr"


def test_fallback_to_logs_on_error_uses_log_tail_as_message(api: Api) -> None:
    container = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    api.post(
        api.pods, pod("bad", ["python", "-c", "import sys; print('boom'); sys.exit(1)"], container=container)
    )
    assert _terminated(_phase(api, "bad", "Failed"))["message"] == "boom"


def test_pod_that_fits_no_node_stays_pending_unschedulable_with_scheduler_message(api: Api) -> None:
    container = {"resources": {"limits": {"nvidia.com/gpu": "16"}}}
    api.post(api.pods, pod("big", ["python", "-c", "pass"], container=container))
    pending = api.wait_for(
        f"{api.pods}/big",
        lambda r: any(c["type"] == "PodScheduled" for c in r.json()["status"].get("conditions", [])),
    )
    condition = next(c for c in pending.json()["status"]["conditions"] if c["type"] == "PodScheduled")
    assert pending.json()["status"]["phase"] == "Pending"
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"].startswith("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    events = api.get(
        f"/api/v1/namespaces/{api.namespace}/events", fieldSelector="involvedObject.name=big"
    ).json()["items"]
    assert {(e["type"], e["reason"]) for e in events} == {("Warning", "FailedScheduling")}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param(
            {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "1 node(s) didn't match Pod's node affinity",
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
            "1 node(s) didn't match Pod's node affinity",
            id="node-affinity",
        ),
    ],
)
def test_pod_whose_selector_matches_no_node_is_unschedulable(
    api: Api, spec: dict[str, Any], reason: str
) -> None:
    api.post(api.pods, pod("p", ["python", "-c", "pass"], **spec))
    pending = api.wait_for(
        f"{api.pods}/p",
        lambda r: any(c["type"] == "PodScheduled" for c in r.json()["status"].get("conditions", [])),
    )
    condition = next(c for c in pending.json()["status"]["conditions"] if c["type"] == "PodScheduled")
    assert condition["message"].startswith(f"0/1 nodes are available: {reason}")


def test_gpu_requests_are_accounted_against_node_capacity(api: Api) -> None:
    gpus = {"resources": {"limits": {"nvidia.com/gpu": "6"}}}
    api.post(api.pods, pod("first", ["python", "-c", "import time; time.sleep(30)"], container=gpus))
    api.wait_for(f"{api.pods}/first", lambda r: bool(r.json()["spec"].get("nodeName")))
    api.post(api.pods, pod("second", ["python", "-c", "pass"], container=gpus))
    pending = api.wait_for(f"{api.pods}/second", lambda r: bool(r.json()["status"].get("conditions")))
    assert "Insufficient nvidia.com/gpu" in pending.json()["status"]["conditions"][0]["message"]
    api.delete(f"{api.pods}/first", {"gracePeriodSeconds": 0})
    api.wait_for(f"{api.pods}/second", lambda r: bool(r.json()["spec"].get("nodeName")))


def test_deleted_pod_gets_sigterm_then_disappears_after_graceful_exit(
    api: Api, sandbox: RunningSandbox
) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('got sigterm', flush=True), sys.exit(0)))\n"
        "print('running', flush=True)\n"
        "time.sleep(60)\n"
    )
    api.post(api.pods, pod("svc", ["python", "-c", script], terminationGracePeriodSeconds=10))
    api.wait_for(f"{api.pods}/svc/log", lambda r: r.text == "running\n")
    deleting = api.delete(f"{api.pods}/svc").json()
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 10
    api.wait_for(f"{api.pods}/svc", lambda r: r.status_code == 404)
    log = sandbox.dir / f"pods/{api.namespace}/svc/containers/main/log"
    assert log.read_text() == "running\ngot sigterm\n"


def test_pod_ignoring_sigterm_is_killed_after_grace_period(api: Api) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    api.post(api.pods, pod("stubborn", ["python", "-c", script], terminationGracePeriodSeconds=1))
    api.wait_for(f"{api.pods}/stubborn/log", lambda r: r.text == "up\n")
    started = time.monotonic()
    api.delete(f"{api.pods}/stubborn")
    api.wait_for(f"{api.pods}/stubborn", lambda r: r.status_code == 404)
    assert time.monotonic() - started >= 1.0


def test_container_env_resolves_values_field_refs_secrets_and_config_maps(api: Api) -> None:
    api.post(
        f"/api/v1/namespaces/{api.namespace}/secrets",
        {"metadata": {"name": "s"}, "data": {"token": base64.b64encode(b"t0k").decode()}},
    )
    api.post(
        f"/api/v1/namespaces/{api.namespace}/configmaps",
        {"metadata": {"name": "c"}, "data": {"mode": "fast"}},
    )
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
    api.post(api.pods, pod("env", ["python", "-c", script], container={"env": env}, labels={"team": "ml"}))
    _phase(api, "env", "Succeeded")
    assert api.get(f"{api.pods}/env/log").text == "v v-x env ml t0k fast\n"


def test_missing_secret_reference_is_create_container_config_error(api: Api) -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    api.post(api.pods, pod("p", ["python", "-c", "pass"], container={"env": env}))
    waiting = api.wait_for(f"{api.pods}/p", lambda r: bool(r.json()["status"].get("containerStatuses")))
    state = waiting.json()["status"]["containerStatuses"][0]["state"]["waiting"]
    assert state == {"reason": "CreateContainerConfigError", "message": 'secret "nope" not found'}
    assert waiting.json()["status"]["phase"] == "Pending"


def test_pod_whose_network_cannot_be_set_up_says_so_and_runs_once_it_can(
    api: Api, sandbox: RunningSandbox
) -> None:
    # Every free pod address's host-side link name taken (as a slow kernel or a leaked namespace leaves one):
    # the pod's network namespace cannot be wired to the bridge.
    network = sandbox.sandbox.network
    assert network is not None
    taken = {link.name for link in Path("/sys/class/net").iterdir()}
    blockers = [name for name in (network.veth_name(host) for host in range(2, 255)) if name not in taken]
    batch = "".join(f"link add {name} type bridge\n" for name in blockers)
    subprocess.run(["ip", "-batch", "-"], input=batch.encode(), check=True)
    try:
        api.post(api.pods, pod("wired", ["python", "-c", "print('through')"]))
        waiting = api.wait_for(
            f"{api.pods}/wired",
            lambda r: bool(r.json()["status"].get("containerStatuses")),
        ).json()
        state = waiting["status"]["containerStatuses"][0]["state"]["waiting"]
        assert state["reason"] == "CreatePodSandboxError"
        assert waiting["status"]["phase"] == "Pending"
    finally:
        subprocess.run(
            ["ip", "-batch", "-"], input="".join(f"link delete {n}\n" for n in blockers).encode(), check=False
        )
    done = _phase(api, "wired", "Succeeded", "Failed", timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    assert api.get(f"{api.pods}/wired/log").text == "through\n"


def test_volumes_are_local_folders_and_mount_paths_are_rewritten_in_args_and_env(
    api: Api, sandbox: RunningSandbox
) -> None:
    api.post(
        f"/api/v1/namespaces/{api.namespace}/configmaps",
        {"metadata": {"name": "cfg"}, "data": {"job.json": "{}"}},
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
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    assert api.post(f"/api/v1/namespaces/{api.namespace}/persistentvolumeclaims", claim).status_code == 201
    api.post(api.pods, pod("vol", ["python", "-c", script], container=container, volumes=volumes))
    _phase(api, "vol", "Succeeded", "Failed")
    assert api.get(f"{api.pods}/vol/log").text == "{}\n"
    assert (sandbox.dir / f"volumes/{api.namespace}/data/ckpt").read_text() == "w"


def test_paths_named_inside_a_mounted_config_file_reach_the_mounted_volume(
    api: Api, sandbox: RunningSandbox
) -> None:
    # In a real container a config file naming /datasets/train.txt finds the file on the mounted volume.
    (sandbox.dir / f"volumes/{api.namespace}/datasets").mkdir(parents=True, exist_ok=True)
    (sandbox.dir / f"volumes/{api.namespace}/datasets/train.txt").write_text("hello")
    api.post(
        f"/api/v1/namespaces/{api.namespace}/configmaps",
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
    api.post(api.pods, pod("cfgpath", ["python", "-c", script], container=container, volumes=volumes))
    _phase(api, "cfgpath", "Succeeded", "Failed")
    assert api.get(f"{api.pods}/cfgpath/log").text == "hello\n"


def test_a_volume_at_a_new_top_level_path_is_seen_there_so_messages_name_the_pods_paths(
    api: Api, sandbox: RunningSandbox
) -> None:
    # As in a real container: the data volume is at /datasets itself (not a rewritten local folder), so a
    # program's own view of its paths, and the failure it reports, name /datasets.
    assert not Path("/datasets").exists()  # else the sandbox would have to add a folder to this machine's /
    (sandbox.dir / f"volumes/{api.namespace}/datasets/text").mkdir(parents=True, exist_ok=True)
    (sandbox.dir / f"volumes/{api.namespace}/datasets/text/train.jsonl").write_text("{}")
    script = (
        "import os; print(os.path.realpath('/datasets/text/train.jsonl'), os.getcwd(), flush=True);"
        " open('/datasets/text/missing.jsonl')"
    )
    container = {
        "workingDir": "/datasets/text",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "data", "mountPath": "/datasets", "readOnly": True}],
    }
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}}]
    api.post(api.pods, pod("realpath", ["python", "-c", script], container=container, volumes=volumes))
    done = _phase(api, "realpath", "Succeeded", "Failed")
    log = api.get(f"{api.pods}/realpath/log").text
    assert log.splitlines()[0] == "/datasets/text/train.jsonl /datasets/text", log
    message = _terminated(done)["message"]
    assert "No such file or directory: '/datasets/text/missing.jsonl'" in message
    assert "tensorone-pod" not in message
    assert not Path("/datasets").exists()


def test_processes_a_container_leaves_behind_end_when_its_main_process_ends(api: Api, tmp_path: Path) -> None:
    # On a cluster the container's PID namespace goes with its main process, children included.
    marker = tmp_path / "child-still-alive"
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w').write('alive')"
    script = (
        f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}]); print('main done')"
    )
    api.post(api.pods, pod("orphans", ["python", "-c", script]))
    _phase(api, "orphans", "Succeeded", "Failed")
    time.sleep(4)
    assert not marker.exists()


def test_pod_has_its_own_ip_and_its_names_resolve_to_it(api: Api) -> None:
    script = (
        "import socket; print(socket.gethostname(), socket.gethostbyname('w-0.job.' + open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read() + '.svc.cluster.local'),"
        " socket.gethostbyname('w-0.job'))"
    )
    api.post(api.pods, pod("w-0", ["python", "-c", script], hostname="w-0", subdomain="job"))
    done = _phase(api, "w-0", "Succeeded", "Failed")
    ip = done["status"]["podIP"]
    assert ip not in ("127.0.0.1", done["status"]["hostIP"])
    assert api.get(f"{api.pods}/w-0/log").text == f"w-0 {ip} {ip}\n"


def test_two_pods_listen_on_the_same_port_and_reach_each_other_by_name(api: Api) -> None:
    server = (
        "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
        " s.bind(('0.0.0.0', 29500)); s.listen(); c, _ = s.accept(); c.sendall(socket.gethostname().encode());"
        " c.close()"
    )
    client = (
        "import socket, time\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        c = socket.create_connection(('{peer}.pair', 29500), timeout=1); break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "print(c.recv(100).decode())"
    )
    api.post(f"/api/v1/namespaces/{api.namespace}/services", {"metadata": {"name": "pair"},
             "spec": {"clusterIP": "None", "selector": {"app": "pair"}}})  # fmt: skip
    for name, peer in (("a", "b"), ("b", "a")):
        script = f"import threading; threading.Thread(target=lambda: exec({server!r})).start(); exec({client.format(peer=peer)!r})"
        api.post(
            api.pods,
            pod(name, ["python", "-c", script], hostname=name, subdomain="pair", labels={"app": "pair"}),
        )
    for name, peer in (("a", "b"), ("b", "a")):
        done = _phase(api, name, "Succeeded", "Failed", timeout=30)
        assert done["status"]["phase"] == "Succeeded", api.get(f"{api.pods}/{name}/log").text
        assert api.get(f"{api.pods}/{name}/log").text == f"{peer}\n"


def test_in_pod_kubernetes_client_uses_in_cluster_config_with_its_service_account_rights(api: Api) -> None:
    api.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{api.namespace}/roles", {"metadata": {"name": "read-pods"},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})  # fmt: skip
    api.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{api.namespace}/rolebindings", {
        "metadata": {"name": "read-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-pods"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": api.namespace}],
    })  # fmt: skip
    script = (
        "import kubernetes; kubernetes.config.load_incluster_config();"
        " v1 = kubernetes.client.CoreV1Api();"
        " print(v1.read_namespaced_pod('client', open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()).metadata.name)"
    )
    api.post(api.pods, pod("client", ["python", "-c", script]))
    done = _phase(api, "client", "Succeeded", "Failed", timeout=30)
    assert api.get(f"{api.pods}/client/log").text == "client\n", done["status"]


def test_log_endpoint_supports_tail_lines_and_follow(api: Api) -> None:
    script = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)"
    api.post(api.pods, pod("counter", ["python", "-c", script]))
    api.wait_for(f"{api.pods}/counter/log", lambda r: r.status_code == 200)
    with api.client.stream("GET", f"{api.pods}/counter/log", params={"follow": "true"}) as response:
        followed = "".join(response.iter_text())
    assert followed == "0\n1\n2\n"
    assert api.get(f"{api.pods}/counter/log", tailLines=1).text == "2\n"


def test_logs_of_pod_with_two_containers_need_a_container_name(api: Api) -> None:
    manifest = pod("two", ["python", "-c", "pass"])
    manifest["spec"]["containers"].append(
        {"name": "side", "image": "i", "command": ["python", "-c", "print(1)"]}
    )
    api.post(api.pods, manifest)
    _phase(api, "two", "Succeeded")
    response = api.get(f"{api.pods}/two/log")
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "a container name must be specified for pod two, choose one of: [main side]"
    )
    assert api.get(f"{api.pods}/two/log", container="side").text == "1\n"


def test_processes_do_not_outlive_the_sandbox(tmp_path: Path) -> None:
    from tensorone.sandbox.testing import running_sandbox

    started = tmp_path / "started"
    marker = f"sleeper-{os.urandom(6).hex()}"  # found in this machine's /proc by its command line
    script = f"import time; open({str(started)!r}, 'w').write('{marker}'); time.sleep(60)"
    with running_sandbox(tmp_path / "sb") as sandbox:
        api = Api(sandbox)
        api.post(api.pods, pod("sleeper", [PY, "-c", script]))
        api.wait_for(f"{api.pods}/sleeper", lambda r: r.json()["status"].get("phase") == "Running")
        deadline = time.monotonic() + 10
        while not started.exists() or not started.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = processes_with(marker)
        assert pids, "the pod's process is not on this machine"
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, "pod process survived the sandbox"
        time.sleep(0.05)


def test_pod_priority_comes_from_its_priority_class(api: Api) -> None:
    created = api.post(api.pods, pod("p", ["python", "-c", "pass"], priorityClassName="tensorone-low")).json()
    assert created["spec"]["priority"] == 100
    assert created["spec"]["preemptionPolicy"] == "Never"
    missing = api.post(api.pods, pod("q", ["python", "-c", "pass"], priorityClassName="nope"))
    assert missing.status_code == 403
    assert missing.json()["message"] == 'pods "q" is forbidden: no PriorityClass with name nope was found'


def test_higher_priority_pod_preempts_lower_priority_pod_when_gpus_run_out(api: Api) -> None:
    api.post("/apis/scheduling.k8s.io/v1/priorityclasses", {"metadata": {"name": "high"}, "value": 1000})
    gpus = {"resources": {"limits": {"nvidia.com/gpu": "8"}}}
    sleeper = ["python", "-c", "import time; time.sleep(60)"]
    api.post(api.pods, pod("low", sleeper, container=gpus, terminationGracePeriodSeconds=1))
    api.wait_for(f"{api.pods}/low", lambda r: r.json()["status"].get("phase") == "Running")
    api.post(api.pods, pod("high", ["python", "-c", "pass"], container=gpus, priorityClassName="high"))
    api.wait_for(f"{api.pods}/low", lambda r: r.status_code == 404)
    done = _phase(api, "high", "Succeeded")
    assert done["spec"]["nodeName"] == "sandbox-a100"
    events = api.get(f"/api/v1/namespaces/{api.namespace}/events", fieldSelector="reason=Preempted").json()[
        "items"
    ]
    assert [e["involvedObject"]["name"] for e in events] == ["low"]


def test_container_runs_as_its_security_context_user_and_sees_none_of_the_clusters_credentials(
    api: Api, sandbox: RunningSandbox
) -> None:
    secrets = [sandbox.dir / "pki" / "ca.key", sandbox.kubeconfig_path, sandbox.dir / "pki" / "tokens.csv"]
    script = (
        "import os, sys\n"
        "print(os.getuid(), os.getgid(), sorted(os.getgroups()))\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        print(path.rsplit('/', 1)[1], len(open(path).read()))\n"
        "    except OSError as e:\n"
        "        print(path.rsplit('/', 1)[1], type(e).__name__)\n"
        "open('/checkpoints/owned', 'w').write('x')\n"
    )
    claim = {"metadata": {"name": "ckpt"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    assert api.post(f"/api/v1/namespaces/{api.namespace}/persistentvolumeclaims", claim).status_code == 201
    manifest = pod(
        "user",
        ["python", "-c", script, *map(str, secrets)],
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
        container={"volumeMounts": [{"name": "ckpt", "mountPath": "/checkpoints"}]},
        volumes=[{"name": "ckpt", "persistentVolumeClaim": {"claimName": "ckpt"}}],
    )
    api.post(api.pods, manifest)
    done = _phase(api, "user", "Succeeded", "Failed")
    log = api.get(f"{api.pods}/user/log").text
    assert done["status"]["phase"] == "Succeeded", log
    lines = log.splitlines()
    assert lines[0] == "1000 3000 [2000]"
    # Masked in the container's mount namespace (the key folder an empty tmpfs, the kubeconfig /dev/null) and
    # out of reach of a non-root user anyway: never the content.
    assert [line.split()[0] for line in lines[1:]] == ["ca.key", "kubeconfig", "tokens.csv"]
    assert {line.split()[1] for line in lines[1:]} <= {"0", "PermissionError", "FileNotFoundError"}
    assert (sandbox.dir / f"volumes/{api.namespace}/ckpt/owned").stat().st_uid == 1000


def test_root_container_cannot_read_the_clusters_credentials_either(
    api: Api, sandbox: RunningSandbox
) -> None:
    # The report endpoint's key, where the sandbox's components keep it (made here: this sandbox runs none).
    report_tls = sandbox.dir / REPORT_TLS_FOLDER
    report_tls.mkdir(exist_ok=True)
    (report_tls / "tls.key").write_text("PRIVATE KEY")
    script = (
        f"import os; print(os.getuid(), os.listdir({str(sandbox.dir / 'pki')!r}), "
        f"len(open({str(sandbox.kubeconfig_path)!r}).read()), os.listdir({str(report_tls)!r}))"
    )
    api.post(api.pods, pod("root", ["python", "-c", script]))
    _phase(api, "root", "Succeeded", "Failed")
    assert api.get(f"{api.pods}/root/log").text == "0 [] 0 []\n"


def test_a_container_reads_no_other_containers_volume_neither_through_the_nodes_folders_nor_its_processes(
    api: Api, sandbox: RunningSandbox
) -> None:
    # As on a node: the kubelet's pod folders are no container's business, and a container keeps its processes,
    # and so its mounts, to itself (a PID namespace each) — even from one running as the same user, as every
    # training worker does.
    api.post(
        f"/api/v1/namespaces/{api.namespace}/secrets",
        {"metadata": {"name": "held"}, "data": {"token": base64.b64encode(b"s3cr3t-held").decode()}},
    )
    holder = "import time; open('/held/token').read(); time.sleep(30)"
    # It finds the holder's process and, from its command line, where the secret is in the holder's mounts.
    searcher = (
        "import os, re, sys, time\n"
        "time.sleep(1.5)\n"
        "found = []\n"
        "def read(path):\n"
        "    try:\n"
        "        if 's3cr3t' in open(path).read():\n"
        "            found.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "for folder, _, files in os.walk(sys.argv[1]):\n"
        "    for name in files:\n"
        "        read(os.path.join(folder, name))\n"
        "holders = []\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
        "    line = open('/proc/' + pid + '/cmdline', 'rb').read().decode(errors='replace')\n"
        "    match = re.search(r\"open\\('([^']*/held/token)'\", line)\n"
        "    if match:\n"
        "        holders.append(pid)\n"
        "        read('/proc/' + pid + '/root' + match.group(1))\n"
        "        read('/proc/' + pid + '/cwd/../volumes/held/token')\n"
        "print(len(holders), found)\n"
    )
    manifest = pod(
        "pair",
        ["python", "-c", searcher, str(sandbox.dir)],
        securityContext={"runAsUser": 1000, "runAsGroup": 1000},
        volumes=[{"name": "held", "secret": {"secretName": "held"}}],
    )
    manifest["spec"]["containers"].append(
        {"name": "holder", "image": "i", "command": ["python", "-c", holder],
         "volumeMounts": [{"name": "held", "mountPath": "/held", "readOnly": True}],
         "securityContext": {"runAsUser": 1000, "runAsGroup": 1000}}
    )  # fmt: skip
    api.post(api.pods, manifest)
    api.wait_for(
        f"{api.pods}/pair",
        lambda r: any(
            c["name"] == "main" and "terminated" in c["state"]
            for c in r.json().get("status", {}).get("containerStatuses", [])
        ),
        timeout=30,
    )
    # It saw neither the holder's process nor any of its files; and its end shows while the holder still runs.
    assert api.get(f"{api.pods}/pair/log", container="main").text == "0 []\n"
    assert api.get(f"{api.pods}/pair").json()["status"]["phase"] == "Running"
