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
* the securityContext's user, group and supplementary groups (fsGroup), dropped to last.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def _die_with_parent_again(parent: int) -> None:
    """The kernel clears the parent-death signal (set by the node agent's ``setpriv --pdeathsig``) when the
    process changes its user: set it again, or a container running as its securityContext's user would outlive a
    sandbox that was killed. ``parent``: the parent's pid while the first setting still held."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise SystemExit(f"container init: prctl: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent:  # the parent went in between: nothing will send the signal now
        raise SystemExit(128)


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
    parent = os.getppid()
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
    if args.uid is not None:
        groups = [int(g) for g in args.groups.split(",") if g]
        gid = args.gid if args.gid is not None else args.uid
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(args.uid)
        _die_with_parent_again(parent)
    if args.workdir:
        os.chdir(args.workdir)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"exec: {command[0]!r}: {exc.strerror}\n")
        raise SystemExit(127) from exc


if __name__ == "__main__":
    main()
