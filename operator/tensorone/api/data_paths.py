"""Where a job's data and model may come from: a path on the account's data volume, or a hub id for models.

Each account has its own data volume (the dataset PersistentVolumeClaim in the account's namespace), mounted
read-only in its workers at ``DATA_VOLUME_MOUNT_PATH``. A dataset ``source`` or a ``baseModel``/``weights`` given as
a path must name something inside it. The check is made twice: lexically wherever the path is given (REST
registration, job creation, the operator's admission of objects made with kubectl, the CRD's pattern), and again
by the trainer with symlinks resolved, right before it opens anything (``resolve_inside``). ``..`` segments,
host paths outside the volume and ``file://`` are refused. A dataset source may also be a URL of a scheme in
``FETCHABLE_SCHEMES`` (the one list of what the platform fetches): the job's initializer copies it into the cache on
the data volume (``tensorone.api.sources``), so the workers still read only inside the volume. Models are fetched
from the hub by id; a model URL is refused.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from tensorone.api.source_urls import SOURCE_URL_PATTERN, parse_source_url

DATA_VOLUME_MOUNT_PATH = "/datasets"
# URL schemes the platform downloads datasets from before training (the initializer; see tensorone.api.sources).
FETCHABLE_SCHEMES: frozenset[str] = frozenset({"s3", "hf", "https"})

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A Hugging Face hub id: ``name`` or ``owner/name``; every segment starts with a letter or digit, so no ``..``.
_HUB_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
HUB_ID_PATTERN = rf"^{_HUB_SEGMENT}(/{_HUB_SEGMENT})?$"
_HUB_ID = re.compile(HUB_ID_PATTERN)
# One path segment that is neither ``.`` nor ``..`` (written without look-ahead: the CRD's patterns are RE2).
_SEGMENT = r"([^/.\x00-\x1f\x7f]|\.[^/.\x00-\x1f\x7f]|\.\.[^/\x00-\x1f\x7f])[^/\x00-\x1f\x7f]*"
VOLUME_PATH_PATTERN = rf"^{DATA_VOLUME_MOUNT_PATH}(/{_SEGMENT})*/?$"
DATASET_SOURCE_PATTERN = rf"{VOLUME_PATH_PATTERN}|{SOURCE_URL_PATTERN}"
MODEL_PATTERN = rf"{HUB_ID_PATTERN}|{VOLUME_PATH_PATTERN}"


def url_scheme(value: str) -> str | None:
    """The lower-case scheme of ``value`` when it is written as a URL (``s3://…``, ``file:/…``), else None."""
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else None


def _scheme_problem(scheme: str) -> str:
    if scheme == "file":
        return f"file:// URLs are not accepted; give the path on the account's data volume ({DATA_VOLUME_MOUNT_PATH}/…)"
    return (
        f"{scheme}:// is not supported yet: the platform fetches {', '.join(sorted(FETCHABLE_SCHEMES))} URLs; "
        f"or put the files on the account's data volume and give their path ({DATA_VOLUME_MOUNT_PATH}/…)"
    )


def volume_path_problem(path: str) -> str | None:
    """Why ``path`` is not a path inside the data volume (None: it is), judged on the text alone."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "must not contain control characters"
    if not path.startswith("/"):
        return f"must be an absolute path on the account's data volume ({DATA_VOLUME_MOUNT_PATH}/…)"
    parts = path[1:].removesuffix("/").split("/")
    if any(part in (".", "..") for part in parts):
        return "must not contain '.' or '..' segments"
    if "" in parts and path not in ("/", DATA_VOLUME_MOUNT_PATH + "/"):
        return "must not contain empty segments ('//')"
    normal = posixpath.normpath(path)
    if normal != DATA_VOLUME_MOUNT_PATH and not normal.startswith(DATA_VOLUME_MOUNT_PATH + "/"):
        return f"must be inside the account's data volume, {DATA_VOLUME_MOUNT_PATH}/"
    return None


def dataset_source_problem(source: str) -> str | None:
    """Why ``source`` cannot be a dataset's source (None: it can)."""
    scheme = url_scheme(source)
    if scheme is not None and scheme in FETCHABLE_SCHEMES:
        try:
            parse_source_url(source)
        except ValueError as e:
            return str(e)
        return None
    if scheme is not None:
        return _scheme_problem(scheme)
    return volume_path_problem(source)


def model_problem(value: str) -> str | None:
    """Why ``value`` cannot name a model (``baseModel``, vision ``weights``): a hub id or a data-volume path."""
    scheme = url_scheme(value)
    if scheme is not None and scheme in FETCHABLE_SCHEMES:
        return (
            f"{scheme}:// is not supported yet for models: give the hub id (org/name; the platform fetches it) "
            f"or a model folder on the account's data volume ({DATA_VOLUME_MOUNT_PATH}/…)"
        )
    if scheme is not None:
        return _scheme_problem(scheme)
    if value.startswith("/") or value.startswith("."):
        return volume_path_problem(value)
    if _HUB_ID.match(value):
        return None
    return (
        f"must be a hub id (owner/name) or an absolute path on the account's data volume "
        f"({DATA_VOLUME_MOUNT_PATH}/…)"
    )


def check_dataset_source(source: str) -> str:
    """Pydantic validator form of ``dataset_source_problem``."""
    problem = dataset_source_problem(source)
    if problem:
        raise ValueError(problem)
    return source


def check_model(value: str) -> str:
    """Pydantic validator form of ``model_problem``."""
    problem = model_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class OutsideDataVolumeError(ValueError):
    """A path resolves (symlinks followed) to somewhere outside the data volume."""


def resolve_inside(root: str | Path, path: str | Path) -> Path:
    """``path`` with every symlink resolved, when it stays inside ``root``; else ``OutsideDataVolumeError``.

    The worker-side check: a symlink on the volume (planted by anyone who can write to it) must not lead the trainer
    to another tenant's files or the host's.
    """
    real_root = Path(root).resolve()
    real = Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise OutsideDataVolumeError("resolves to a location outside the account's data volume")
    return real
