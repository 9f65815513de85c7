"""What only the tests (and benchmarks) need beside the demo's processes: ports, scratch
directories, and reading a running Envoy's or xdscp's admin endpoint."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xdscp.demo import processes
from xdscp.demo.processes import http_get
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
