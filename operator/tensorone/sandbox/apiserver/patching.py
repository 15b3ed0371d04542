"""JSON merge patch, JSON patch and strategic merge patch, as the API server applies them.

kmock deep-merges every PATCH body. Real Kubernetes distinguishes the three patch types by Content-Type, and the
strategic merge patch merges lists by a key (containers and env by ``name``, conditions by ``type``…) that
``kubectl patch``/``kubectl apply`` rely on; a naive merge would silently drop sibling containers.
"""

from __future__ import annotations

import copy
from typing import Any

from tensorone.sandbox.apiserver.errors import ApiError, bad_request

# Field name -> merge key, for the lists this project patches strategically (from the Kubernetes Go types).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "taints": "key",
    "addresses": "type",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}
# Lists of scalars whose patch strategy is "merge" (union) instead of replace.
MERGED_SCALAR_LISTS = frozenset({"finalizers"})


def _own(value: Any, kind: type, owned: bool) -> Any:
    """``value`` as a private copy (itself when the caller already owns it), or an empty ``kind`` if not one."""
    if not isinstance(value, kind):
        return kind()
    return value if owned else copy.deepcopy(value)


def json_merge_patch(target: Any, patch: Any, *, owned: bool = False) -> Any:
    """Apply an RFC 7386 merge patch: objects merge recursively, ``null`` deletes, anything else replaces.

    The result shares nothing with ``target`` or ``patch``. ``owned`` (for the recursion) says ``target`` is
    already such a copy and may be changed in place, so each level is copied once, not once per depth.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = _own(target, dict, owned)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value, owned=True)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(
            f"the server rejected our request due to an error in our request: invalid path {path!r}"
        )
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    current = doc
    for part in parts:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request:"
                f" jsonpatch: path {path!r} not found",
            )
    return current


def _add(doc: Any, parts: list[str], value: Any, path: str, replace: bool) -> Any:
    if not parts:
        return copy.deepcopy(value)
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise ApiError(
                422, "Invalid", f"jsonpatch replace operation does not apply: doc is missing key: {path}"
            )
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-":
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = copy.deepcopy(value)
            else:
                parent.insert(int(last), copy.deepcopy(value))
        else:
            raise ApiError(422, "Invalid", f"jsonpatch: index out of bounds for path {path!r}")
    else:
        raise ApiError(422, "Invalid", f"jsonpatch: cannot add to a scalar at {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise ApiError(
            422, "Invalid", f"jsonpatch remove operation does not apply: doc is missing path: {path}"
        )
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        kind = op.get("op")
        path = op.get("path", "")
        parts = _pointer(path)
        if kind == "add":
            doc = _add(doc, parts, op.get("value"), path, replace=False)
        elif kind == "replace":
            doc = _add(doc, parts, op.get("value"), path, replace=True)
        elif kind == "remove":
            doc = _remove(doc, parts, path)
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = copy.deepcopy(_resolve(doc, _pointer(source), source))
            if kind == "move":
                doc = _remove(doc, _pointer(source), source)
            doc = _add(doc, parts, value, path, replace=False)
        elif kind == "test":
            if _resolve(doc, parts, path) != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request:"
                    f" testing value {path} failed",
                )
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((item for item in items if isinstance(item, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, original: Any, patch: list[Any], owned: bool) -> list[Any]:
    base: list[Any] = _own(original, list, owned)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [item for item in copy.deepcopy(patch) if not (isinstance(item, dict) and "$patch" in item)]
    if field in MERGED_SCALAR_LISTS:
        return base + [item for item in patch if item not in base]
    key = _merge_key(field, patch + base)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    for item in patch:
        directive = item.get("$patch")
        index = next(
            (i for i, old in enumerate(base) if isinstance(old, dict) and old.get(key) == item.get(key)), None
        )
        if directive == "delete":
            if index is not None:
                del base[index]
        elif index is None:
            base.append(strategic_merge_patch({}, {k: v for k, v in item.items() if k != "$patch"}))
        else:
            base[index] = strategic_merge_patch(base[index], item, owned=True)
    return base


def strategic_merge_patch(target: Any, patch: Any, *, owned: bool = False) -> Any:
    """Apply a strategic merge patch with the list-merge keys of the Kubernetes types this project uses.

    Supports ``$patch: delete|replace``, ``$deleteFromPrimitiveList/<field>``, and ignores the ordering
    directives ``$setElementOrder/<field>`` and ``$retainKeys`` that ``kubectl apply`` sends. ``owned`` as
    for :func:`json_merge_patch`: the target is already a private copy, changed in place.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result: dict[str, Any] = _own(target, dict, owned)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field, []) if item not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, owned=True)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, owned=True)
        else:
            result[key] = value
    return result
