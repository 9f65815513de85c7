"""Network namespaces for end-to-end tests, and a look at the kernel's view of their sockets.

Everything the helpers create lives in namespaces they create (`ip netns add`), with both ends
of a veth pair inside them, so the root namespace's interfaces and routes are never touched.

namespace    a Namespace deleted when an ExitStack closes
Namespace    one `ip netns` namespace: `ip -n`, `ip netns exec` as an argv prefix, and
             `run(fn)`, which calls fn in a thread that has joined the namespace, so plain
             Python sockets (urllib, the project's http_get) reach its loopback
veth_pair    a veth pair with one end in each of two namespaces, addressed and up
serve        `xdscp serve` inside a namespace, on ports it picks and reports
unavailable  why these tests cannot run here (not root, no `ip`/`ss`, `ip netns add` fails)
tcp_sockets  `ss -tnop` in a namespace, parsed: addresses, owning pid/fd and the TCP timer
keepalive_options
             SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT of another process's
             socket, read with pidfd_getfd(2) (root, Linux >= 5.6)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from xdscp.demo.processes import BIN, Process, served_ports, wait_for

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
SYS_PIDFD_GETFD = 438  # the same number on every architecture (new syscalls are unified)

_libc = ctypes.CDLL(None, use_errno=True)


def _run(argv: list[str], timeout: float = 10) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class Namespace:
    """A network namespace this process created; `delete` removes it (idempotent)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"
        _run(["ip", "netns", "add", name])
        self.deleted = False
        try:
            self.ip("link", "set", "lo", "up")
        except Exception:
            self.delete()
            raise

    @property
    def exec_prefix(self) -> list[str]:
        """Argv prefix that runs a command inside the namespace (it execs, keeping the pid)."""
        return ["ip", "netns", "exec", self.name]

    def ip(self, *args: str) -> str:
        return _run(["ip", "-n", self.name, *args])

    def start(self, name: str, argv: list[str], where: Path, stack: ExitStack) -> Process:
        """`argv` as a process inside the namespace, stopped when `stack` closes."""
        process = Process(name, [*self.exec_prefix, *argv], where)
        stack.callback(process.stop)
        return process

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) in a fresh thread inside the namespace: sockets it opens are here.

        setns(2) with CLONE_NEWNET changes only the calling thread, so the test process and its
        other threads stay in the root namespace.
        """
        result: list[T] = []
        error: list[BaseException] = []

        def target() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        errno = ctypes.get_errno()
                        raise OSError(errno, f"setns({self.path}): {os.strerror(errno)}")
                finally:
                    os.close(fd)
                result.append(fn(*args, **kwargs))
            except BaseException as err:
                error.append(err)

        thread = threading.Thread(target=target, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]

    def pids(self) -> list[int]:
        """Processes inside the namespace (`ip netns pids`)."""
        return [int(pid) for pid in _run(["ip", "netns", "pids", self.name]).split()]

    def delete(self) -> None:
        """Kill what still runs inside (only this namespace's processes), then remove it."""
        if self.deleted:
            return
        try:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)
            self.deleted = True


def namespace(name: str, stack: ExitStack) -> Namespace:
    """A new namespace, deleted when `stack` closes. Create namespaces before what runs in
    them: deleting one also kills whatever still runs inside (a process whose start timed
    out, say), so it must come last."""
    ns = Namespace(name)
    stack.callback(ns.delete)
    return ns


def veth_pair(a: Namespace, dev_a: str, addr_a: str, b: Namespace, dev_b: str, addr_b: str) -> None:
    """A veth pair created directly inside `a` and `b` (never in the root namespace), up.

    Addresses are in CIDR form, e.g. 10.213.0.1/30. Device names must fit IFNAMSIZ (15).
    """
    _run(
        [
            "ip",
            "link",
            "add",
            dev_a,
            "netns",
            a.name,
            "type",
            "veth",
            "peer",
            "name",
            dev_b,
            "netns",
            b.name,
        ]
    )
    a.ip("addr", "add", addr_a, "dev", dev_a)
    b.ip("addr", "add", addr_b, "dev", dev_b)
    a.ip("link", "set", dev_a, "up")
    b.ip("link", "set", dev_b, "up")


def serve(
    ns: Namespace, config: Path, host: str, where: Path, stack: ExitStack
) -> tuple[Process, dict[str, int]]:
    """`xdscp serve config` inside `ns` (xDS and listeners on `host`, admin on its loopback),
    with the ports it chose (xds_port, admin_port) once its ready file names them."""
    ready_file = where / "xdscp-ready.json"
    argv = [str(BIN / "python"), "-m", "xdscp", "serve", str(config)]
    argv += ["--xds-address", f"{host}:0", "--admin-port", "0", "--listener-address", host]
    xdscp = ns.start("xdscp", [*argv, "--ready-file", str(ready_file)], where, stack)
    return xdscp, wait_for(lambda: served_ports(xdscp, ready_file), 30, "xdscp to serve")


def skip_unless_available() -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)


def unavailable() -> str | None:
    """Why network-namespace tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "needs root (ip netns add, setns)"
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (apt-get install iproute2)"
    probe = f"xdscp-probe-{os.getpid()}"
    try:
        Namespace(probe).delete()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        return f"cannot create a network namespace: {err}"
    return None


@dataclass(frozen=True)
class TcpSocket:
    local: tuple[str, int]
    peer: tuple[str, int]
    pid: int | None
    fd: int | None
    timer: str | None  # "keepalive", "on" (retransmit), "persist", ... or None
    timer_args: tuple[str, ...]  # e.g. ("1.9sec", "0"): time left, probes/retransmits sent

    @property
    def keepalive_left(self) -> float | None:
        """Seconds until the keepalive timer fires, if the socket has one."""
        if self.timer != "keepalive" or not self.timer_args:
            return None
        return _seconds(self.timer_args[0])


_ADDR = r"(\S+):(\d+)"
_LINE = re.compile(rf"^\s*\d+\s+\d+\s+{_ADDR}\s+{_ADDR}(.*)$")
_USER = re.compile(r'users:\(\("[^"]*",pid=(\d+),fd=(\d+)\)')
_TIMER = re.compile(r"timer:\((\w+)((?:,[^,)]*)*)\)")


def tcp_sockets(ns: Namespace, state: str = "established") -> list[TcpSocket]:
    """TCP sockets in `ns` in the given state, as `ss -tnop` reports them."""
    out = _run([*ns.exec_prefix, "ss", "-Htnop", "state", state])
    sockets = []
    for line in out.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        rest = match.group(5)
        user, timer = _USER.search(rest), _TIMER.search(rest)
        sockets.append(
            TcpSocket(
                local=(match.group(1).strip("[]"), int(match.group(2))),
                peer=(match.group(3).strip("[]"), int(match.group(4))),
                pid=int(user.group(1)) if user else None,
                fd=int(user.group(2)) if user else None,
                timer=timer.group(1) if timer else None,
                timer_args=tuple(a for a in timer.group(2).split(",") if a) if timer else (),
            )
        )
    return sockets


_SS_TIME = re.compile(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?")


def _seconds(text: str) -> float:
    """ss's timer notation (print_ms_timer): 2sec, 980ms, 1.980ms (= 1 s 980 ms), 1min2sec."""
    match = _SS_TIME.fullmatch(text)
    if not match or not text:
        raise ValueError(f"not an ss timer value: {text!r}")
    minutes, secs, msecs = (int(g) if g else 0 for g in match.groups())
    return minutes * 60 + secs + msecs / 1000


@dataclass(frozen=True)
class KeepaliveOptions:
    enabled: bool  # SO_KEEPALIVE
    time: int  # TCP_KEEPIDLE, seconds
    interval: int  # TCP_KEEPINTVL, seconds
    probes: int  # TCP_KEEPCNT


def keepalive_options(pid: int, fd: int) -> KeepaliveOptions:
    """The keepalive options the kernel holds for fd `fd` of process `pid`.

    pidfd_getfd(2) gives this process its own descriptor for the same socket; reading options
    through it changes nothing, and closing it leaves the owner's descriptor open.
    """
    pidfd = os.pidfd_open(pid)
    try:
        dup = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if dup < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"pidfd_getfd({pid}, {fd}): {os.strerror(errno)}")
    finally:
        os.close(pidfd)
    with socket.socket(fileno=dup) as sock:
        return KeepaliveOptions(
            enabled=bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)),
            time=sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            interval=sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            probes=sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        )
