"""Who is measured: xdscp's harness and the Go peer on each cache, at GOMAXPROCS 1 and 2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench import servers
from bench.servers import Controlled


@dataclass(frozen=True)
class Contender:
    label: str
    cache: str = ""  # the Go peer's cache; "" for xdscp
    gomaxprocs: int = 0

    @property
    def is_peer(self) -> bool:
        return bool(self.cache)

    def start(self, workdir: Path, n: int, listener_port: int, peer: Path | None) -> Controlled:
        if not self.is_peer:
            return servers.harness(workdir, n, listener_port)
        assert peer is not None
        return servers.peer(workdir, peer, n, listener_port, self.cache, self.gomaxprocs)


XDSCP = Contender("xdscp")
PEERS = tuple(
    Contender(f"go-{cache}-p{procs}", cache, procs)
    for cache in ("snapshot", "linear")
    for procs in (1, 2)
)
