"""A downloaded folder artifact is unpacked as untrusted input: plain files and folders, inside the target."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tensorone.sdk.download import UnsafeArchiveError, filename_of, finish, unpack_folder


def archive(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> Path:
    """(name, content or None for a folder, type) entries."""
    with tarfile.open(path, "w") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
                tar.addfile(info)
            elif content is None:
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_the_folder_lands_in_the_target_without_its_top_name(tmp_path: Path) -> None:
    part = archive(tmp_path / "a.tar", [("adapter", None, tarfile.DIRTYPE),
                                        ("adapter/adapter_config.json", b"{}", tarfile.REGTYPE),
                                        ("adapter/sub/w.bin", b"w", tarfile.REGTYPE),
                                        ("adapter/link", None, tarfile.SYMTYPE)])  # fmt: skip
    target = finish(part, "application/x-tar", 'attachment; filename="adapter.tar"', "adapter", tmp_path / "out",
                    extract=True)  # fmt: skip
    assert target == tmp_path / "out"
    assert (target / "adapter_config.json").read_bytes() == b"{}"
    assert (target / "sub" / "w.bin").read_bytes() == b"w"
    assert not (target / "link").exists()
    assert not part.exists()


@pytest.mark.parametrize("name", ["adapter/../../evil", "/etc/evil", "adapter/sub/../../../evil"], ids=str)
def test_a_member_that_would_land_outside_is_refused(tmp_path: Path, name: str) -> None:
    part = archive(tmp_path / "a.tar", [(name, b"x", tarfile.REGTYPE)])
    with pytest.raises(UnsafeArchiveError):
        unpack_folder(part, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_a_file_artifact_goes_into_an_existing_folder_under_the_servers_name(tmp_path: Path) -> None:
    part = tmp_path / ".part"
    part.write_bytes(b"weights")
    target = finish(part, "application/octet-stream", 'attachment; filename="../best.pt"', "best", tmp_path,
                    extract=True)  # fmt: skip
    assert target == tmp_path / "best.pt"
    assert target.read_bytes() == b"weights"


def test_the_suggested_filename_is_reduced_to_a_plain_name() -> None:
    assert filename_of('attachment; filename="/x/../best.pt"', "best") == "best.pt"
    assert filename_of(None, "best") == "best"
    assert filename_of('attachment; filename=".."', "best") == "best"
