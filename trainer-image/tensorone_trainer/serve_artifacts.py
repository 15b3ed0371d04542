"""``python -m tensorone_trainer.serve_artifacts --volume V --root R``: a finished job's artifacts over HTTP.

The REST facade cannot mount a job's checkpoint volume, so it starts this in a small pod (the artifact reader)
that mounts the volume read-only, and reaches it through the API server's pod proxy. It answers only
``GET names.ARTIFACT_READER_ROUTE<entry>?kind=file|folder`` for one name directly under ``--root`` (the job's
artifacts folder): a file as it is, a folder as an uncompressed tar stream. The folder a worker wrote may hold
anything its user code left there, so nothing is followed out of ``--volume``: the entry itself must resolve
inside it, and a folder's tar holds only regular files and folders (no links, devices or pipes). It exits on its
own after ``--idle-seconds`` without a request, so a reader nobody uses does not stay.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import stat
import tarfile
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tensorone.api import names
from tensorone.api.data_paths import OutsideDataVolumeError, resolve_inside

log = logging.getLogger("tensorone_trainer.serve_artifacts")
_ENTRY = re.compile(names.ARTIFACT_ENTRY_PATTERN)
_CHUNK = 1 << 20


def find_entry(volume: Path, root: Path, entry: str, kind: str) -> Path | None:
    """``root/entry`` resolved, when ``entry`` is one safe name, resolves inside ``volume`` and is a ``kind``."""
    if not _ENTRY.fullmatch(entry) or kind not in ("file", "folder"):
        return None
    try:
        path = resolve_inside(volume, root / entry)
        mode = path.stat().st_mode
    except (OutsideDataVolumeError, OSError):
        return None
    if kind == "file" and stat.S_ISREG(mode):
        return path
    if kind == "folder" and stat.S_ISDIR(mode):
        return path
    return None


def _plain_members(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Regular files and folders only, owned by nobody in particular (links could point anywhere)."""
    if not (member.isfile() or member.isdir()):
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def write_folder_tar(folder: Path, arcname: str, out: object) -> None:
    """``folder`` as a tar stream under ``arcname/`` (streamed: nothing is buffered whole)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(str(folder), arcname=arcname, recursive=True, filter=_plain_members)


class _Activity:
    """Requests in flight and when the last one ended (the idle exit waits for both)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.last = time.monotonic()

    def begin(self) -> None:
        with self.lock:
            self.active += 1

    def end(self) -> None:
        with self.lock:
            self.active -= 1
            self.last = time.monotonic()

    def idle_for(self) -> float:
        with self.lock:
            return 0.0 if self.active else time.monotonic() - self.last


def make_handler(volume: Path, root: Path, activity: _Activity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tensorone-artifacts"

        def do_GET(self) -> None:
            activity.begin()
            try:
                self._get()
            finally:
                activity.end()

        def _get(self) -> None:
            url = urlsplit(self.path)
            if url.path == names.ARTIFACT_READER_HEALTH:
                self._answer(HTTPStatus.OK, b"ok\n")
                return
            if not url.path.startswith(names.ARTIFACT_READER_ROUTE):
                self._answer(HTTPStatus.NOT_FOUND, b"not found\n")
                return
            entry = url.path[len(names.ARTIFACT_READER_ROUTE) :]
            kind = (parse_qs(url.query).get("kind") or [""])[0]
            path = find_entry(volume, root, entry, kind)
            if path is None:
                self._answer(HTTPStatus.NOT_FOUND, b"not found\n")
                return
            self.send_response(HTTPStatus.OK)
            if kind == "file":
                with path.open("rb") as source:
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(source.seek(0, 2)))
                    source.seek(0)
                    self.end_headers()
                    shutil.copyfileobj(source, self.wfile, _CHUNK)
            else:
                # No length is known before the tar is written: the answer ends when the connection closes.
                self.send_header("Content-Type", "application/x-tar")
                self.send_header("Connection", "close")
                self.end_headers()
                write_folder_tar(path, entry, self.wfile)

        def _answer(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def serve(volume: Path, root: Path, port: int, idle_seconds: float, host: str = "0.0.0.0") -> None:
    """Serve until ``idle_seconds`` pass without a request."""
    activity = _Activity()
    server = ThreadingHTTPServer((host, port), make_handler(volume, root, activity))
    server.daemon_threads = True

    def stop_when_idle() -> None:
        while activity.idle_for() < idle_seconds:
            time.sleep(min(1.0, idle_seconds / 4))
        log.info("no request for %.0f s: exiting", idle_seconds)
        server.shutdown()

    threading.Thread(target=stop_when_idle, name="idle-exit", daemon=True).start()
    log.info("serving the artifacts under %s on port %d", root, port)
    with server:
        server.serve_forever(poll_interval=0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tensorone_trainer.serve_artifacts")
    parser.add_argument("--volume", required=True, help="where the checkpoint volume is mounted (read-only)")
    parser.add_argument("--root", required=True, help="the job's artifacts folder on it")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(Path(args.volume), Path(args.root), args.port, args.idle_seconds)


if __name__ == "__main__":
    main()
