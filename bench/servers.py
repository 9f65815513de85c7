"""The servers under test as processes, each behind the same control surface.

`Harness` is xdscp's pipeline and ADS server (bench/harness_xdscp.py); `Peer` is the Go
program on go-control-plane (bench/peers/go-control-plane). Both write their ports to a ready
file and answer POST /change?i=K and GET /stats.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import measure
from xdscp.demo.processes import BIN, Process, wait_for

ROOT = Path(__file__).resolve().parents[1]


class Controlled(Process):
    """A server process with the bench's control surface."""

    label = ""

    def __init__(self, label: str, argv: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.label = label
        self.ready_file = workdir / f"{label}-ready-{time.monotonic_ns()}.json"
        super().__init__(label, [*argv, "--ready-file", str(self.ready_file)], workdir, env)
        ports = wait_for(self._ports, 120, f"{label} to serve")
        self.xds_port, self.control = ports["xds_port"], f"http://127.0.0.1:{ports['control_port']}"

    def _ports(self) -> dict[str, int] | None:
        self.check_alive()
        text = self.ready_file.read_text() if self.ready_file.exists() else ""
        return json.loads(text) if text else None

    def change(self, i: int) -> dict[str, Any]:
        reply: dict[str, Any] = self._call("POST", f"/change?i={i}")
        return reply

    def stats(self) -> dict[str, Any]:
        reply: dict[str, Any] = self._call("GET", "/stats")
        return reply

    def cpu_seconds(self) -> float:
        return measure.cpu_seconds(self.popen.pid)

    def memory(self) -> tuple[int, int]:
        return measure.memory(self.popen.pid)

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.control + path, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)


def harness(workdir: Path, n: int, listener_port: int, profile: Path | None = None) -> Controlled:
    argv = [str(BIN / "python"), "-m", "bench.harness_xdscp", "--n", str(n)]
    argv += ["--listener-port", str(listener_port)]
    argv += ["--profile", str(profile)] if profile else []
    path = os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(ROOT))))
    return Controlled("xdscp", argv, workdir, {"PYTHONPATH": path})


def peer(
    workdir: Path, binary: Path, n: int, listener_port: int, cache: str, gomaxprocs: int
) -> Controlled:
    argv = [str(binary), "-n", str(n), "-listener-port", str(listener_port), "-cache", cache]
    label = f"go-{cache}-p{gomaxprocs}"
    return Controlled(label, argv, workdir, {"GOMAXPROCS": str(gomaxprocs)})
