"""The first process of every sandbox container, run inside the pod's fresh mount and UTS namespaces.

``nsenter --net=<pod netns> -- unshare --mount --uts --propagation private -- python -m
tensorone.sandbox.containerinit [options] -- command...`` sets up what a container runtime would, then
``exec``s the container's command (so the PID, process group and exit code are the command's own):

* the pod's hostname (UTS namespace) and the pod's ``/etc/hosts`` (bind mount), as a kubelet writes them;
* the pod's volumes, workdir and home bound under a private tmpfs (``--stage``), so a container running as any
  user reaches them whatever the permissions of the folders that hold them on this machine, and the
  ServiceAccount token directory at its real path (libraries read it from there);
* volumes whose mountPath is a new top-level folder (``/datasets``, ``/checkpoints``: ``--mount``) at that very
  path, as a runtime mounts them: the container gets a root of its own (a folder on the private tmpfs holding
  this machine's top-level folders, bound, beside the new mount points) and is ``chroot``-ed into it, so what it
  prints and reports names the paths the pod declared, and this machine's ``/`` gains no folder;
* masks over the sandbox's own secrets (its CA key, admin kubeconfig, API key): a pod runs on this machine,
  but must not see the cluster's credentials;
* a PID namespace of its own, as a runtime gives each container: the container sees only its own processes in
  ``/proc`` (a fresh procfs), so no process of another pod — which may run as the same user — shows its mounts
  through ``/proc/<pid>/root``;
* the securityContext's user, group and supplementary groups (fsGroup), dropped to last.

The PID namespace makes three processes of one: this one stays outside as the container's face to the node
agent (its PID and process group are what the agent signals and waits for; it ignores the stop signals, which
reach the command directly through the process group, and ends the way the command ended), a child is the
namespace's init (PID 1: it reaps orphans, and its end takes every process of the container with it), and its
child ``exec``s the command (PID 2, so the command gets SIGTERM with the default action, as under
``docker --init``).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import NoReturn

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CLONE_NEWPID = 0x20000000  # <linux/sched.h>
# What the node agent sends a container's process group to stop it: the face and init outlive them (the command
# decides), the command gets each with the action it chose.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# Python ignores these in itself; an exec'd command would inherit that.
PYTHON_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ)


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(f"container init: mount {' '.join(args)}: {result.stderr.decode(errors='replace')}")
        raise SystemExit(128)


def _bind(source: str, target: str, options: list[str]) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount("--bind", source, target)
    if "ro" in options:
        _mount("-o", "remount,bind,ro", target)


def _enter_own_root(root: str, mounts: list[str]) -> None:
    """This machine's top-level folders (with every mount below them, masks included) and ``mounts`` in ``root``
    (a folder on the private tmpfs), then ``chroot`` into it."""
    os.makedirs(root, exist_ok=True)
    # /run first: its copy holds the stage (workdir, home, staged volumes) but not yet the binds made into root.
    for name in sorted(os.listdir("/"), key=lambda n: (n != "run", n)):
        source, target = "/" + name, os.path.join(root, name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
            _mount("--rbind", source, target)
        elif os.path.isfile(source):
            open(target, "a").close()
            _mount("--bind", source, target)
    for spec in mounts:
        source, target, *options = spec.split(":")
        top = target.strip("/").split("/")[0]
        if not top or os.path.lexists("/" + top):
            sys.stderr.write(f"container init: {target} is not a new top-level folder\n")
            raise SystemExit(128)
        _bind(source, root + target, options)
    os.chroot(root)
    os.chdir("/")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """SIGKILL when the parent ends (the kernel clears the setting on fork, and on a change of user)."""
    if _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise SystemExit(f"container init: prctl: {os.strerror(ctypes.get_errno())}")


def _run_in_own_pid_namespace(run_command: Callable[[], NoReturn]) -> NoReturn:
    """Fork the namespace's init, which forks ``run_command``; end as the command ended."""
    if _libc().unshare(CLONE_NEWPID) != 0:  # the next child is PID 1 of a new namespace
        raise SystemExit(f"container init: unshare: {os.strerror(ctypes.get_errno())}")
    for sig in STOP_SIGNALS:
        signal.signal(sig, _outlive)
    status_read, status_write = os.pipe()
    alive_read, alive_write = os.pipe()  # closed when this process ends: init's check that it is still here
    init = os.fork()
    if init == 0:
        os.close(status_read)
        os.close(alive_write)
        _be_init(run_command, status_write, alive_read)
    os.close(status_write)
    os.close(alive_read)
    _, init_status = os.waitpid(init, 0)
    reported = os.read(status_read, 32)
    _end_as(int(reported) if reported else init_status)


def _outlive(signum: int, frame: object) -> None:
    """The stop signal reached the command too (one process group): the command decides when the container ends."""


def _be_init(run_command: Callable[[], NoReturn], status_write: int, alive_read: int) -> NoReturn:
    try:
        _die_with_parent()
        if select.select([alive_read], [], [], 0)[0]:  # readable: at end of file, the face is gone already
            os._exit(128)
        _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", "/proc")
        command = os.fork()
    except BaseException:
        os._exit(128)
    if command == 0:
        os.close(status_write)
        os.close(alive_read)
        for sig in (*STOP_SIGNALS, *PYTHON_IGNORED):
            signal.signal(sig, signal.SIG_DFL)
        run_command()
    while True:  # reap every orphan the container leaves to PID 1, until the command itself ends
        pid, status = os.wait()
        if pid == command:
            os.write(status_write, str(status).encode())
            os._exit(0)  # init's end: the kernel kills what is left in the namespace


def _end_as(status: int) -> NoReturn:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128)


def _become_user_and_exec(
    command: list[str], uid: int | None, gid: int | None, groups: str, workdir: str | None
) -> NoReturn:
    if uid is not None:
        os.setgroups([int(g) for g in groups.split(",") if g])
        os.setgid(gid if gid is not None else uid)
        os.setuid(uid)
    if workdir:
        os.chdir(workdir)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"exec: {command[0]!r}: {exc.strerror}\n")
        os._exit(127)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="containerinit")
    parser.add_argument("--hostname")
    parser.add_argument("--hosts-file")
    parser.add_argument("--stage", help="a folder to cover with a private tmpfs for the binds below it")
    parser.add_argument("--bind", action="append", default=[], help="SRC:DST[:ro]")
    parser.add_argument("--mask", action="append", default=[], help="a file or folder to hide")
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        help="SRC:DST[:ro], DST a new top-level folder of the container's root",
    )
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--groups", default="")
    parser.add_argument("--workdir")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("container init: no command")
    if args.hostname:
        socket.sethostname(args.hostname)
    if args.hosts_file:
        _mount("--bind", args.hosts_file, "/etc/hosts")
    if args.stage:
        os.makedirs(args.stage, exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", args.stage)
    for spec in args.bind:
        source, target, *options = spec.split(":")
        _bind(source, target, options)
    # The sources of --mount are bound into the stage first: the masks below may hide the folders that hold them
    # (the node's pod folders), and the container's own root is built after the masks.
    mounts = []
    for number, spec in enumerate(args.mount):
        source, target, *options = spec.split(":")
        held = os.path.join(args.stage or "/run", "mounts", str(number))
        _bind(source, held, [])
        mounts.append(":".join([held, target, *options]))
    for path in args.mask:
        if os.path.isdir(path):
            _mount("-t", "tmpfs", "-o", "size=1k,mode=0755", "tmpfs", path)
        elif os.path.exists(path):
            _mount("--bind", "/dev/null", path)
    if mounts:
        _enter_own_root(os.path.join(args.stage or "/run", "root"), mounts)
    uid, gid, groups, workdir = args.uid, args.gid, args.groups, args.workdir
    _run_in_own_pid_namespace(lambda: _become_user_and_exec(command, uid, gid, groups, workdir))


if __name__ == "__main__":
    main()
