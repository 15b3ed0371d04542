"""The trainer's sign of life for its pod's reporting relay.

The trainer's first process binds the abstract Unix socket :data:`~tensorone.api.relay.TRAINER_ALIVE_ADDRESS`
and keeps it until it exits; the kernel frees the name with the process, however it ends (even SIGKILL). The
containers of a pod share its network namespace and so its abstract socket names: the relay sees whether the
trainer runs without sharing its processes or files.
"""

from __future__ import annotations

import socket

from tensorone.api.relay import TRAINER_ALIVE_ADDRESS

_held: list[socket.socket] = []


def announce_alive() -> bool:
    """Hold the name for the life of this process; False if another process (the launcher) already holds it."""
    if _held:
        return True
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(TRAINER_ALIVE_ADDRESS)
    except OSError:
        sock.close()
        return False
    _held.append(sock)  # never closed: the name lives exactly as long as this process
    return True


def trainer_alive() -> bool:
    """Whether some process of this pod holds the name (connecting a datagram socket sends nothing)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(TRAINER_ALIVE_ADDRESS)
        except OSError:
            return False
        return True
