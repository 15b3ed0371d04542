"""The control plane: kopf handlers (thin), pure builders and status aggregation, usage and cost.

Start it with ``tensorone operator`` or, from Python (the sandbox does), with :func:`run`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import kopf

from tensorone.catalog.gpus import load_catalog
from tensorone.controller import handlers
from tensorone.controller.kube import KubeClient, load_connection
from tensorone.controller.metrics import OperatorMetrics
from tensorone.controller.reconcile import Engine
from tensorone.controller.reporting.directory import jobs as report_directory
from tensorone.controller.reporting.server import start_report_server
from tensorone.controller.reporting.tls import ServingCertificate
from tensorone.controller.settings import OperatorSettings, load_settings

__all__ = ["OperatorSettings", "load_settings", "run"]

logger = logging.getLogger(__name__)


async def run(
    settings: OperatorSettings,
    namespace: str | None = None,
    kubeconfig: str | Path | None = None,
    metrics_port: int | None = None,
    liveness_port: int | None = None,
    report_port: int | None = None,
    peering: str | None = None,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    """Run the operator until ``stop_flag`` is set (or forever).

    Args:
        settings: the operator's configuration.
        namespace: watch only this namespace (None: all namespaces).
        kubeconfig: the cluster to manage (None: ``$KUBECONFIG``, in-cluster, ``~/.kube/config``).
        metrics_port: serve Prometheus metrics on this port.
        liveness_port: serve kopf's liveness probe at ``/healthz`` on this port. Unlike the metrics server (a
            thread), it is answered by the operator's event loop, so a hung loop fails the probe.
        report_port: serve the workers' report endpoint on this port (default: the settings' ``reportPort``).
        peering: a kopf peering name for active/standby operators (needs kopf's peering CRD); None: standalone.
        stop_flag: set it to stop the operator.
        ready_flag: set once the operator watches.
    """
    settings = settings.with_files_read()  # fails the start on an unreadable CA file (SettingsError)
    connection = load_connection(kubeconfig)
    client = KubeClient(connection)
    metrics = OperatorMetrics()
    if metrics_port:
        metrics.serve(metrics_port)
    handlers.install(Engine(client, settings, load_catalog(settings.pricing_config), metrics))
    handlers.configure(
        kopf.ConnectionInfo(
            server=connection.server,
            token=connection.token,
            ca_path=connection.ca_file,
            insecure=connection.insecure,
            certificate_path=connection.cert_file,
            private_key_path=connection.key_file,
        ),
        settings.watch_timeout_seconds,
    )
    report_runner = None
    renewals: asyncio.Task[None] | None = None
    report_port = report_port or settings.report_port
    if report_port:
        # Worker pods reach it over the pod network (the chart's Service; the sandbox's gateway address), so it
        # serves TLS whenever it has a certificate: the reports carry bearer tokens.
        certificate = None
        if settings.report_tls_cert_file and settings.report_tls_key_file:
            certificate = ServingCertificate(settings.report_tls_cert_file, settings.report_tls_key_file)
            renewals = asyncio.create_task(certificate.keep_fresh(), name="report certificate renewals")
        report_runner, _ = await start_report_server(
            client,
            report_directory,
            "0.0.0.0",
            report_port,
            write_interval=settings.report_interval_seconds,
            tls=None if certificate is None else certificate.context,
        )
    logger.info("operator starting: namespace=%s server=%s", namespace or "(all)", connection.server)
    try:
        await kopf.operator(
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else [],
            standalone=peering is None,
            peering_name=peering,
            liveness_endpoint=f"http://0.0.0.0:{liveness_port}/healthz" if liveness_port else None,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if renewals is not None:
            renewals.cancel()
        if report_runner is not None:
            await report_runner.cleanup()
        await client.close()
