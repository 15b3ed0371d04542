"""Wiring of one running sandbox: a real control plane, the pod network, our kubelet and volume provisioner.

Everything that is Kubernetes is Kubernetes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
:mod:`.controlplane`); ours are only the parts a cluster gets from its nodes: the kubelet that runs pods as local
processes (:mod:`.kubelet`), their network (:mod:`.network`) and a local-path provisioner (:mod:`.provisioner`).
Clients (kubectl, kopf, the kubernetes client, the facade) use ``DIR/kubeconfig`` (cluster admin) or, for the
product's own components, the chart's ServiceAccounts (:mod:`.components`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import time
from pathlib import Path

from tensorone.facade.kube import Connection, KubeClient, KubeError, Resource
from tensorone.sandbox.config import PRODUCT_PRIORITY_CLASSES, NodeSpec, node_specs
from tensorone.sandbox.controlplane import ADMIN_USER, NODE_AGENT_USER, ControlPlane, write_kubeconfig
from tensorone.sandbox.kubelet import NODES, Kubelet
from tensorone.sandbox.network import PodNetwork
from tensorone.sandbox.provisioner import LocalPathProvisioner

logger = logging.getLogger(__name__)

DATASET_CLAIM = "datasets"
# The report endpoint's serving key and CA (made by the components): as secret to pods as the cluster's own.
REPORT_TLS_FOLDER = "report-tls"
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
PRIORITY_CLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)

# What the node agent (kubelet + provisioner) may do: a kubelet's rights (the built-in system:node role, which
# the Node authorizer narrows per node) plus the provisioner's.
NODE_AGENT_RULES = [
    {
        "apiGroups": [""],
        "resources": ["nodes"],
        "verbs": ["get", "list", "watch", "create", "patch", "update"],
    },
    {"apiGroups": [""], "resources": ["nodes/status", "pods/status"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch", "create"]},
    {
        "apiGroups": [""],
        "resources": ["persistentvolumes"],
        "verbs": ["get", "list", "watch", "create", "delete"],
    },
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "patch", "update"],
    },
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "create"]},
]


class Sandbox:
    """One sandbox cluster rooted at a directory (state of pods, volumes, logs, kubeconfig).

    ``run_pods``: True runs bound pods' containers; False leaves bound pods as the scheduler left them;
    ``"simulate"`` reports each bound pod Running at once without running it (control-plane benchmarks).
    ``audit``/``audit_policy``: the API server writes an audit log (``DIR/logs/audit.log``).
    ``kubeconfig_namespace``: the namespace of ``DIR/kubeconfig``'s context (created when missing).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        port: int = 0,
        gpus: str | list[NodeSpec] | None = None,
        run_pods: bool | str = True,
        priority_classes: bool = True,
        dataset_claim: str | None = DATASET_CLAIM,
        audit: bool = False,
        audit_policy: str | None = None,
        kubeconfig_namespace: str = "default",
    ) -> None:
        self.dir = Path(directory).resolve()
        self.port = port
        self.node_specs = node_specs(gpus)
        self.run_pods = run_pods
        self.install_priority_classes = priority_classes
        self.dataset_claim = dataset_claim
        self.audit = audit
        self.audit_policy = audit_policy
        self.kubeconfig_namespace = kubeconfig_namespace
        self.network: PodNetwork | None = None
        self.control: ControlPlane | None = None
        self.kubelet: Kubelet | None = None
        self.provisioner: LocalPathProvisioner | None = None
        self.admin: KubeClient | None = None
        self.startup_seconds = 0.0
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        """Base URL of the API server (https, on the pod network's gateway address)."""
        assert self.control is not None
        return self.control.url

    @property
    def kubeconfig_path(self) -> Path:
        """The cluster-admin kubeconfig (mode 0600)."""
        return self.dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        assert self.control is not None
        return self.control.ca_file

    def client(self, token: str) -> KubeClient:
        """An API client with the given bearer token."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return KubeClient(Connection(server=self.url, token=token, verify=context))

    async def start(self) -> None:
        """Start the control plane, register the nodes, start the kubelet; return once pods can run."""
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.network = await asyncio.to_thread(PodNetwork.allocate)
        self.control = ControlPlane(
            self.dir, self.network.gateway, port=self.port, audit=self.audit, audit_policy=self.audit_policy
        )
        await self.control.start()
        self.timings["apiserver"] = time.monotonic() - started
        self.port = self.control.port
        write_kubeconfig(
            self.kubeconfig_path, self.url, self.ca_file, self.control.admin_token, user=ADMIN_USER,
            namespace=self.kubeconfig_namespace,
        )  # fmt: skip
        self.admin = self.client(self.control.admin_token)
        await self._bootstrap()
        agent = self.client(self.control.node_agent_token)
        self.provisioner = LocalPathProvisioner(agent, self.dir / "volumes", self.dataset_claim)
        await self.provisioner.start()
        masked = [
            self.dir / "pki", self.kubeconfig_path, self.dir / "api-key", self.dir / "component-tokens",
            self.dir / REPORT_TLS_FOLDER,
        ]  # fmt: skip
        self.kubelet = Kubelet(
            agent, self.dir, self.node_specs, self.network, self.control.pki_or_raise(), self.port,
            masked=masked, run_pods=self.run_pods,
        )  # fmt: skip
        await self.kubelet.start()
        self.timings["kubelet"] = time.monotonic() - started
        await self._wait_schedulable()
        self.startup_seconds = time.monotonic() - started
        (self.dir / "sandbox.json").write_text(json.dumps({"pid": os.getpid(), "url": self.url}))

    async def _bootstrap(self) -> None:
        """RBAC for the node agent and the chart's PriorityClasses, as the cluster admin."""
        assert self.admin is not None
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": NODE_AGENT_USER}, "rules": NODE_AGENT_RULES}  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NODE_AGENT_USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NODE_AGENT_USER,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": NODE_AGENT_USER}],
        }
        if self.kubeconfig_namespace != "default":
            with contextlib.suppress(KubeError):
                await self.admin.create(NAMESPACES, None, {"metadata": {"name": self.kubeconfig_namespace}})
        await self.admin.create(CLUSTER_ROLES, None, role)
        await self.admin.create(CLUSTER_ROLE_BINDINGS, None, binding)
        if self.install_priority_classes:
            for pc in PRODUCT_PRIORITY_CLASSES:
                body = {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": pc["name"]},
                    "value": pc["value"],
                    "preemptionPolicy": pc["preemptionPolicy"],
                    "globalDefault": False,
                }
                with contextlib.suppress(KubeError):
                    await self.admin.create(PRIORITY_CLASSES, None, body)

    async def _wait_schedulable(self, timeout: float = 60) -> None:
        """Until every node is untainted by the node controller and ``default`` has its ServiceAccount token."""
        assert self.admin is not None
        deadline = time.monotonic() + timeout
        while True:
            nodes = (await self.admin.list(NODES)).get("items") or []
            tainted = [
                n
                for n in nodes
                if any(
                    t.get("key", "").startswith("node.kubernetes.io/") for t in n["spec"].get("taints") or []
                )
            ]
            account_ready = False
            with contextlib.suppress(KubeError):
                account = await self.admin.get(SERVICE_ACCOUNTS, "default", "default")
                account_ready = bool(account.get("secrets"))
            if len(nodes) == len(self.node_specs) and not tainted and account_ready:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox nodes did not become schedulable")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Kill every pod process, stop our loops, the control plane, and remove the network."""
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self.provisioner is not None:
            await self.provisioner.stop()
        for client in (self.admin, self.kubelet.client if self.kubelet else None):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        if self.control is not None:
            await asyncio.to_thread(self.control.stop)
        if self.network is not None:
            await asyncio.to_thread(self.network.close)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "sandbox.json").unlink()
