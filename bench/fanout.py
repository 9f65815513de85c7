"""Items 4 and 5: many ADS streams from the Go load generator (a separate process, loopback
only, bounded), one change, and the server's CPU seconds and memory around it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Served(Protocol):
    """What the load generator drives: an ADS port, a control surface (`POST /change?i=K`,
    `GET /stats`; bench/servers.py's Controlled, or push_k8s's for Kubernetes mode) and the
    server's memory."""

    xds_port: int
    control: str

    def memory(self) -> tuple[int, int]: ...


TIMEOUT = 240  # seconds, for the whole load generator run


@dataclass(frozen=True)
class Load:
    streams: int
    delta: bool
    channels: int = 20
    # Streams opened but not yet in sync, at most. A stampede (every stream at once, as when a
    # fleet reconnects to a restarted server) sets it to `streams`.
    syncing: int = 100

    @property
    def stampede(self) -> bool:
        return self.syncing >= self.streams


def run(server: Served, loadgen: Path, load: Load, change: int) -> dict[str, Any]:
    idle_rss, _ = server.memory()
    argv = [str(loadgen), "-xds", f"127.0.0.1:{server.xds_port}", "-control", server.control]
    argv += ["-streams", str(load.streams), "-channels", str(load.channels)]
    argv += ["-syncing", str(load.syncing)]
    argv += ["-change", str(change), *(["-delta"] if load.delta else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    out: dict[str, Any] = json.loads(done.stdout)
    before, after = out.pop("server_before"), out.pop("server_after")
    synced_rss = int(before["rss_bytes"])
    return {
        **out,
        "server_cpu_seconds": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
        "idle_rss_bytes": idle_rss,
        "synced_rss_bytes": synced_rss,
        "peak_rss_bytes": int(after["hwm_bytes"]),
        "rss_per_stream_bytes": (synced_rss - idle_rss) // load.streams,
    }
