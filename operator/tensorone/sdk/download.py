"""Saving a downloaded artifact (``GET …/jobs/{id}/artifacts/{name}``): a file as it came, a folder's tar unpacked.

Shared by both clients, which only differ in how the bytes arrive. A tar from the server is still unpacked as
untrusted input (its folder was written by the job's own code): only regular files and folders, each landing
inside the target folder.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

TAR_MEDIA_TYPE = "application/x-tar"


class UnsafeArchiveError(Exception):
    """The folder's tar holds a member that would land outside the target folder."""


def filename_of(content_disposition: str | None, fallback: str) -> str:
    """The ``filename`` the server suggests, reduced to a plain name; ``fallback`` without one."""
    if content_disposition and "filename=" in content_disposition:
        name = content_disposition.split("filename=", 1)[1].split(";", 1)[0].strip().strip('"')
        name = PurePosixPath(name).name
        if name and name not in (".", ".."):
            return name
    return fallback


def target_of(to: str | os.PathLike[str] | None, filename: str, is_tar: bool, extract: bool) -> Path:
    """Where the download goes: ``to`` itself, or inside ``to`` when it is a folder (the cwd when None).

    An unpacked folder goes to ``to`` (or ``<folder name>`` beside the cwd), never into an existing folder's
    parent by surprise.
    """
    name = filename[: -len(".tar")] if is_tar and extract and filename.endswith(".tar") else filename
    if to is None:
        return Path.cwd() / name
    path = Path(to)
    if path.is_dir() and not (is_tar and extract):
        return path / name
    return path


def _inside(member: tarfile.TarInfo) -> PurePosixPath | None:
    """The member's path below the archive's top folder (``adapter/x.json`` → ``x.json``); None for the top."""
    parts = PurePosixPath(member.name).parts
    if not parts or member.name.startswith("/") or any(p in ("..", "") for p in parts):
        raise UnsafeArchiveError("an archive member would land outside the target folder")
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else None


def unpack_folder(archive: Path, target: Path) -> None:
    """The folder in ``archive`` (one top folder) into ``target``: regular files and folders only."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar:
            relative = _inside(member)
            if relative is None or not (member.isfile() or member.isdir()):
                continue
            destination = target / relative
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            with source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def staging_folder(to: str | os.PathLike[str] | None) -> Path:
    """Where the bytes are written while they arrive: beside their final place (same file system)."""
    if to is None:
        return Path.cwd()
    path = Path(to)
    folder = path if path.is_dir() else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def finish(part: Path, media_type: str, disposition: str | None, fallback: str, to: str | os.PathLike[str] | None,
           extract: bool) -> Path:  # fmt: skip
    """Move or unpack the finished download ``part`` to its place; returns that place."""
    is_tar = media_type.split(";", 1)[0].strip() == TAR_MEDIA_TYPE
    target = target_of(to, filename_of(disposition, fallback), is_tar, extract)
    try:
        if is_tar and extract:
            unpack_folder(part, target)
        else:
            part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return target
