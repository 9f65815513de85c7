"""Listening addresses: parsed once from a flag, and checked free before a server binds them.

gRPC binds with SO_REUSEPORT by default, so a second xdscp on the same port would start without
a word and take some of the Envoys. The xDS server turns that off; the check here gives the
error a plain sentence instead of gRPC's native log line.
"""

from __future__ import annotations

import errno
import os
import socket

from xdscp.errors import BindError

HINT = "is another xdscp running?"


def split_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:18000` for IPv6) as a host and a port; ValueError names the problem."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT such as 0.0.0.0:18000, not {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def check_free(host: str, port: int, what: str, hint: str = HINT) -> None:
    """Raise BindError if `port` cannot be bound on `host` exclusively right now."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        reason = (err.strerror or str(err)).lower()
        raise BindError(f"cannot listen for {what} on {host}:{port}: {reason}") from None
    if port == 0:  # any free port will do: only the host had to make sense
        return
    for family, kind, proto, _, sockaddr in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
            except OSError as err:
                raise bind_error(what, host, port, err, hint) from None


def bind_error(what: str, host: str, port: int, err: OSError, hint: str = HINT) -> BindError:
    hint = f" ({hint})" if err.errno == errno.EADDRINUSE else ""
    # aiohttp words its own message around the OS's; an address lookup has no errno.
    code = err.errno or 0
    reason = (os.strerror(code) if code > 0 else err.strerror or str(err)).lower()
    return BindError(f"cannot listen for {what} on {host}:{port}: {reason}{hint}")
