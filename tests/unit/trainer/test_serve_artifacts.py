"""The artifact reader serves a job's artifacts folder and nothing else: files as they are, folders as tars of
plain files, no way out of the volume it mounts."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tensorone.api import names
from tensorone.facade.testing import free_port
from tensorone_trainer.serve_artifacts import serve

IDLE_SECONDS = 3.0


class Reader:
    def __init__(self, url: str, thread: threading.Thread, volume: Path, root: Path) -> None:
        self.url, self.thread, self.volume, self.root = url, thread, volume, root

    def get(self, entry: str, kind: str) -> httpx.Response:
        return httpx.get(f"{self.url}{names.ARTIFACT_READER_ROUTE}{entry}", params={"kind": kind})


@pytest.fixture
def reader(tmp_path: Path) -> Reader:
    volume = tmp_path / "volume"
    root = Path(names.artifacts_dir(str(volume), "tensorone-acct", "job-0123456789abcdef"))
    adapter = root / "adapter"
    (adapter / "nested").mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 4}')
    (adapter / "nested" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (root / "best.pt").write_bytes(b"weights")
    secret = tmp_path / "outside.txt"
    secret.write_text("not the job's")
    (adapter / "leak").symlink_to(secret)
    (root / "escape.pt").symlink_to(secret)
    (root / "escape-dir").symlink_to(tmp_path)
    port = free_port()
    thread = threading.Thread(target=serve, args=(volume, root, port, IDLE_SECONDS, "127.0.0.1"), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{url}{names.ARTIFACT_READER_HEALTH}").raise_for_status()
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return Reader(url, thread, volume, root)


def test_a_file_artifact_comes_as_it_is(reader: Reader) -> None:
    response = reader.get("best.pt", "file")
    assert response.status_code == 200
    assert response.content == b"weights"
    assert response.headers["content-type"] == "application/octet-stream"


def test_a_folder_artifact_comes_as_a_tar_of_its_plain_files(reader: Reader) -> None:
    response = reader.get("adapter", "folder")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"adapter", "adapter/adapter_config.json", "adapter/nested",
                                "adapter/nested/weights.bin"}  # fmt: skip
        extracted = tar.extractfile(members["adapter/nested/weights.bin"])
        assert extracted is not None
        assert extracted.read() == b"\x00\x01" * 1000


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("escape.pt", "file"),  # a symlink out of the volume
        ("escape-dir", "folder"),
        ("..", "folder"),
        ("adapter/adapter_config.json", "file"),  # one segment only
        ("%2e%2e", "folder"),
        (".hidden", "file"),
        ("best.pt", "folder"),  # the kind the status lists must match what is there
        ("adapter", "file"),
        ("best.pt", "../x"),
        ("missing.pt", "file"),
    ],
    ids=[
        "symlinked-file",
        "symlinked-folder",
        "dot-dot",
        "nested",
        "encoded-dot-dot",
        "hidden",
        "file-as-folder",
        "folder-as-file",
        "bad-kind",
        "missing",
    ],
)
def test_anything_but_a_plain_entry_of_the_folder_is_not_found(reader: Reader, entry: str, kind: str) -> None:
    response = reader.get(entry, kind)
    assert response.status_code == 404
    assert b"not the job's" not in response.content


def test_the_reader_exits_after_its_idle_time(reader: Reader) -> None:
    reader.get("best.pt", "file")
    reader.thread.join(timeout=IDLE_SECONDS + 5)
    assert not reader.thread.is_alive()
