"""What only the tests (and benchmarks) need beside the demo's processes: ports, scratch
directories, and reading a running Envoy's or xdscp's admin endpoint."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xdscp.demo import processes
from xdscp.demo.processes import NotReady, Process, http_get, wait_for
from xdscp.verify import dynamic_clusters


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1, for servers that cannot report theirs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def workdir(prefix: str = "xdscp-") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


class Xdscp(processes.Xdscp):
    def get_json(self, path: str) -> Any:
        return json.loads(http_get(self.admin + path)[1])


class Envoy(processes.Envoy):
    def config_dump(self) -> dict[str, Any]:
        dump: dict[str, Any] = json.loads(http_get(self.admin + "/config_dump?include_eds")[1])
        return dump

    def dynamic_clusters(self) -> dict[str, dict[str, Any]]:
        """Active dynamic clusters by name, as config_dump shows them."""
        return dynamic_clusters(self.config_dump())

    def stats(self, prefix: str = "") -> dict[str, str]:
        text = http_get(self.admin + f"/stats?filter=^{prefix}")[1].decode()
        return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def wait_routed(
    envoy: Process,
    get: Callable[[], int],
    what: str,
    logs: Callable[[], str] = str,
) -> None:
    """Until `get()` (a request through `envoy`) answers 200: a refused connection means not
    yet; a dead Envoy fails at once; the processes' `logs()` join the error if it never does."""

    def routed() -> bool:
        envoy.check_alive()
        try:
            return get() == 200
        except OSError:
            return False

    try:
        wait_for(routed, 30, f"a 200 for {what}")
    except NotReady as err:
        raise NotReady(f"{err}\n{logs()}") from err


def log_tails(processes: list[Process], lines: int = 30) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p in processes)
