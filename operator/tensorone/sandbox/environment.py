"""What a container process sees: its environment variables, mounted folders and path mapping.

Containers are not isolated: each runs as a local process. Its volumes become folders under the sandbox
directory, and because the process cannot see ``/checkpoints`` or ``/etc/tensorone``, every string in the
container's ``command``, ``args``, env values and ``workingDir`` that starts with a mountPath (or names the
termination-message path or the service-account directory) is rewritten to the local folder, and so is every such
path inside the text files of mounted ConfigMaps and Secrets (a job config naming ``/datasets/train.jsonl`` must
find that file, as it would in a real container). The full mapping is also exported as
``TENSORONE_SANDBOX_PATH_MAP`` (JSON: mountPath -> folder).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
# (plural, namespace, name) -> the ConfigMap or Secret, or None: the node agent fetches what a pod references
# from the API server before it starts the pod, and these functions read that snapshot.
Lookup = Callable[[str, str, str], Obj | None]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_PASSTHROUGH = ("LANG", "LC_ALL", "LD_LIBRARY_PATH", "TMPDIR")
_PASSTHROUGH_PREFIXES = ("CUDA_", "NVIDIA_", "HF_", "TRANSFORMERS_", "OMP_", "MKL_")


class ContainerConfigError(Exception):
    """A referenced ConfigMap/Secret/key is missing: the kubelet reports CreateContainerConfigError."""


def rewrite_paths(value: str, mapping: dict[str, str]) -> str:
    """Replace mountPath prefixes inside a string with their local folders (longest mountPath first)."""
    for mount in sorted(mapping, key=len, reverse=True):
        pattern = r"(?<![\w./-])" + re.escape(mount.rstrip("/")) + r"(?=$|[/\s:,;=\"'])"
        value = re.sub(pattern, mapping[mount].replace("\\", "\\\\"), value)
    return value


def rewrite_file_paths(folder: Path, mapping: dict[str, str]) -> None:
    """Rewrite mountPath prefixes inside the UTF-8 text files of a ConfigMap/Secret volume folder."""
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rewritten = rewrite_paths(text, mapping)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")


def _key_value(store: Lookup, plural: str, namespace: str, ref: dict[str, Any]) -> str | None:
    kind = "secret" if plural == "secrets" else "configmap"
    obj = store(plural, namespace, ref.get("name", ""))
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found')
    data = obj.get("data") or {}
    key = ref["key"]
    if key not in data and key not in (obj.get("stringData") or {}):
        if optional:
            return None
        raise ContainerConfigError(
            f"couldn't find key {key} in {'Secret' if kind == 'secret' else 'ConfigMap'}"
            f" {namespace}/{ref.get('name')}"
        )
    if plural == "secrets" and key in data:
        return base64.b64decode(data[key]).decode()
    return str(data.get(key, (obj.get("stringData") or {}).get(key, "")))


def _field_ref(pod: Obj, path: str) -> str:
    meta = pod["metadata"]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta["uid"],
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": (pod.get("status") or {}).get("podIP", ""),
        "status.hostIP": (pod.get("status") or {}).get("hostIP", ""),
        "status.podIPs": (pod.get("status") or {}).get("podIP", ""),
        "status.hostIPs": (pod.get("status") or {}).get("hostIP", ""),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(path.split(".")[1]) or {}).items()))
    return ""


def _resource_ref(container: Obj, ref: dict[str, Any]) -> str:
    section, _, resource = ref["resource"].partition(".")
    value = ((container.get("resources") or {}).get(section) or {}).get(resource)
    return str(value) if value is not None else "0"


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", lambda m: env.get(m.group(1), m.group(0)), value
    ).replace("$$", "$")


def _source_folders() -> list[str]:
    """The folders holding the project's packages, wherever this process imports them from (an editable install
    finds them through an import hook, not ``sys.path``, so a ``python -S`` in a container would not)."""
    folders = []
    for package in ("tensorone", "tensorone_trainer"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            folders.append(str(Path(spec.origin).parent.parent))
    return folders


def base_environment(api_host: str, api_port: int) -> dict[str, str]:
    """What every container gets besides its own env: PATH with this Python first, the API server's address.

    The sandbox runs no images: the "image" is this machine with this Python, so the interpreter's folder
    comes first on PATH and the project's source folders on PYTHONPATH. ``KUBERNETES_SERVICE_*`` name the API
    server's address on the pod network (a kubelet sets them from the ``kubernetes`` Service).
    """
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH or k.startswith(_PASSTHROUGH_PREFIXES)}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    python_path += [p for p in _source_folders() if p not in python_path]
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(python_path)
    env["KUBERNETES_SERVICE_HOST"] = api_host
    env["KUBERNETES_SERVICE_PORT"] = str(api_port)
    env["KUBERNETES_SERVICE_PORT_HTTPS"] = str(api_port)
    env["KUBERNETES_PORT"] = f"tcp://{api_host}:{api_port}"
    return env


def container_environment(
    store: Lookup, pod: Obj, container: Obj, base: dict[str, str], mapping: dict[str, str]
) -> dict[str, str]:
    """The container's env: envFrom, env (values, $(VAR) expansion, fieldRef, resourceFieldRef, key refs)."""
    namespace = pod["metadata"].get("namespace", "default")
    env = dict(base)
    env["HOSTNAME"] = (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for plural, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(key)
            if not ref:
                continue
            obj = store(plural, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(
                    f'{"secret" if plural == "secrets" else "configmap"} "{ref.get("name")}" not found'
                )
            for data_key, data_value in (obj.get("data") or {}).items():
                decoded = base64.b64decode(data_value).decode() if plural == "secrets" else str(data_value)
                env[prefix + data_key] = decoded
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = _expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        resolved: str | None
        if "fieldRef" in source:
            resolved = _field_ref(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            resolved = _resource_ref(container, source["resourceFieldRef"])
        elif "secretKeyRef" in source:
            resolved = _key_value(store, "secrets", namespace, source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            resolved = _key_value(store, "configmaps", namespace, source["configMapKeyRef"])
        else:
            resolved = ""
        if resolved is not None:
            env[name] = resolved
    for key, value in list(env.items()):
        if key not in base or base[key] != value:
            env[key] = rewrite_paths(value, mapping)
    env["TENSORONE_SANDBOX_PATH_MAP"] = json.dumps(mapping, sort_keys=True)
    return env


def materialise_volumes(
    store: Lookup, pod: Obj, pod_dir: Path, claims: dict[str, Path], tokens: dict[str, str]
) -> dict[str, Path]:
    """Create a folder per pod volume (filling ConfigMap/Secret/token content); returns volume name -> folder.

    ``claims`` maps each PVC name to the folder of the PersistentVolume bound to it; ``tokens`` maps each
    projected ServiceAccount token's path to the token the API server issued for this pod.
    """
    namespace = pod["metadata"].get("namespace", "default")
    folders: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        folder = pod_dir / "volumes" / name
        if "persistentVolumeClaim" in volume:
            folder = claims[volume["persistentVolumeClaim"]["claimName"]]
        elif "hostPath" in volume:
            folder = Path(volume["hostPath"]["path"])
        folder.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            folder.chmod(0o777)
        for plural, key in (("configmaps", "configMap"), ("secrets", "secret")):
            if key in volume:
                source = volume[key]
                ref_name = source.get("name") or source.get("secretName", "")
                obj = store(plural, namespace, ref_name)
                if obj is None:
                    if source.get("optional"):
                        continue
                    raise ContainerConfigError(
                        f'{"secret" if plural == "secrets" else "configmap"} "{ref_name}" not found'
                    )
                data = obj.get("data") or {}
                items = source.get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    raw = data.get(item["key"], "")
                    content = base64.b64decode(raw) if plural == "secrets" else str(raw).encode()
                    target = folder / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                    target.chmod(int(item.get("mode") or source.get("defaultMode") or 0o644))
        if "projected" in volume or "downwardAPI" in volume:
            _write_projected(store, pod, volume, folder, tokens)
        folders[name] = folder
    return folders


def _write_projected(store: Lookup, pod: Obj, volume: Obj, folder: Path, tokens: dict[str, str]) -> None:
    namespace = pod["metadata"].get("namespace", "default")
    for source in (volume.get("projected") or {}).get("sources") or []:
        for plural, key in (("configmaps", "configMap"), ("secrets", "secret")):
            if key not in source:
                continue
            ref = source[key]
            obj = store(plural, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'{key.lower()} "{ref.get("name")}" not found')
            data = obj.get("data") or {}
            for item in ref.get("items") or [{"key": k, "path": k} for k in data]:
                raw = data.get(item["key"], "")
                (folder / item["path"]).write_bytes(
                    base64.b64decode(raw) if plural == "secrets" else str(raw).encode()
                )
        if "serviceAccountToken" in source:
            path = source["serviceAccountToken"].get("path", "token")
            (folder / path).write_text(tokens.get(path, ""))
            (folder / path).chmod(0o644)
        for item in (source.get("downwardAPI") or {}).get("items") or []:
            if "fieldRef" in item:
                (folder / item["path"]).write_text(_field_ref(pod, item["fieldRef"]["fieldPath"]))
    for item in (volume.get("downwardAPI") or {}).get("items") or []:
        if "fieldRef" in item:
            (folder / item["path"]).write_text(_field_ref(pod, item["fieldRef"]["fieldPath"]))
