"""Identifiers: platform ids (``job_…``, ``ds_…``) and the Kubernetes object names that hold them.

Kubernetes names cannot hold ``_``, so a CR's name is the id with ``-`` instead of ``_``.
"""

from __future__ import annotations

import re
import secrets

JOB_ID_PREFIX = "job_"
DATASET_ID_PREFIX = "ds_"
_GENERATED_ID = re.compile(r"^(job|ds)_[0-9a-f]{16}$")
# RFC 1123 subdomain, as Kubernetes requires of object names.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_NAME = 253


def new_job_id() -> str:
    """A fresh job id: ``job_`` + 16 lowercase hex characters."""
    return JOB_ID_PREFIX + secrets.token_hex(8)


def new_dataset_id() -> str:
    """A fresh dataset id: ``ds_`` + 16 lowercase hex characters."""
    return DATASET_ID_PREFIX + secrets.token_hex(8)


def is_generated_id(value: str) -> bool:
    """Whether ``value`` has the form the platform generates."""
    return bool(_GENERATED_ID.match(value))


def id_to_name(object_id: str) -> str | None:
    """The Kubernetes name holding ``object_id``, or None when no valid name can hold it.

    ``None`` lets callers answer "not found" for ids no object can have (e.g. ``ds_Upper Case``).
    """
    name = object_id.replace("_", "-")
    if len(name) > _MAX_NAME or not _DNS_SUBDOMAIN.match(name):
        return None
    return name


def name_to_id(name: str) -> str:
    """The platform id of the object called ``name``."""
    return name.replace("-", "_")
