"""Decoding of the protobuf bodies kubectl's typed clients send (``kubectl create namespace|configmap|secret``).

The real server accepts ``application/vnd.kubernetes.protobuf``; kubectl's generator commands use it for core
types. Only the few types those commands create are described here (field numbers from k8s.io/api
``generated.proto``); other protobuf bodies get a clear 415.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

MAGIC = b"k8s\x00"

# Field number -> (json name, kind); kinds: str, bytes, int, bool, map, map-bytes, time, list-str, or a schema name.
Schema = dict[int, tuple[str, str]]
SCHEMAS: dict[str, Schema] = {
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        7: ("generation", "int"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "list:OwnerReference"),
        14: ("finalizers", "list-str"),
    },
    "OwnerReference": {
        1: ("kind", "str"),
        3: ("name", "str"),
        4: ("uid", "str"),
        5: ("apiVersion", "str"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "map-bytes"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map-bytes"),
        3: ("type", "str"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "list-str")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 4: ("automountServiceAccountToken", "bool")},
}


class ProtobufError(ValueError):
    """The body is not a protobuf message the sandbox can decode."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _bytes(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else b""


def _message(data: bytes, schema_name: str) -> dict[str, Any]:
    schema = SCHEMAS[schema_name]
    result: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind in ("map", "map-bytes"):
            entry = dict(_fields(raw if isinstance(raw, bytes) else b""))
            key = _bytes(entry.get(1, b"")).decode()
            value = _bytes(entry.get(2, b""))
            result.setdefault(name, {})[key] = (
                base64.b64encode(value).decode() if kind == "map-bytes" else (value.decode())
            )
        elif kind == "str" and isinstance(raw, bytes):
            result[name] = raw.decode()
        elif kind in ("int", "bool") and isinstance(raw, int):
            result[name] = bool(raw) if kind == "bool" else raw
        elif kind == "list-str" and isinstance(raw, bytes):
            result.setdefault(name, []).append(raw.decode())
        elif kind.startswith("list:") and isinstance(raw, bytes):
            result.setdefault(name, []).append(_message(raw, kind[5:]))
        elif kind == "time" and isinstance(raw, bytes):
            seconds = dict(_fields(raw)).get(1, 0)
            moment = datetime.datetime.fromtimestamp(
                seconds if isinstance(seconds, int) else 0, tz=datetime.UTC
            )
            result[name] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind in SCHEMAS and isinstance(raw, bytes):
            result[name] = _message(raw, kind)
    return result


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\0``-prefixed protobuf envelope into the JSON form of the object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = dict(_fields(body[len(MAGIC) :]))
    type_meta = dict(_fields(_bytes(envelope.get(1, b""))))
    api_version = _bytes(type_meta.get(1, b"")).decode()
    kind = _bytes(type_meta.get(2, b"")).decode()
    if kind not in SCHEMAS or api_version != "v1":
        raise ProtobufError(
            f"the sandbox decodes protobuf only for core ConfigMap, Secret, Namespace and"
            f" ServiceAccount, got {api_version}/{kind}"
        )
    obj = _message(_bytes(envelope.get(2, b"")), kind)
    return {"apiVersion": api_version, "kind": kind, **obj}
