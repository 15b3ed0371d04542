"""DNS names of pods and services, as cluster DNS serves them (the kubelet writes them into each pod's
``/etc/hosts``; the sandbox has no cluster DNS server)."""

from __future__ import annotations


def pod_names(hostname: str, subdomain: str | None, namespace: str) -> list[str]:
    """Every DNS name under which a pod is reachable in a cluster."""
    names = [hostname]
    if subdomain:
        base = f"{hostname}.{subdomain}"
        names += [
            base,
            f"{base}.{namespace}",
            f"{base}.{namespace}.svc",
            f"{base}.{namespace}.svc.cluster.local",
        ]
    return names


def service_names(name: str, namespace: str) -> list[str]:
    """Every DNS name of a service."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
