"""Item 3: one policy changed until a live Envoy ACKs the new cluster version.

Two paths: through a server's control surface (POST /change, the same for xdscp's harness and
the Go peer; the ACK is timestamped in the server), and through a saved policy file read by
the real `xdscp serve` (the ACK is seen by polling its /status every POLL seconds, so the
figure is late by up to one poll; `through_serve` is that loop for any change, and
bench/push_k8s.py makes the changes through a real Kubernetes API server). Each ACKed version
is cross-checked with Envoy's own `cluster_manager.cds.version_text`; `update_time` gives when
Envoy applied it, by its clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import fleet, measure
from bench.servers import Controlled
from tests.processes import Envoy, Xdscp
from xdscp.demo.processes import bootstrap, wait_for

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.002
WARMUP = 5


@dataclass(frozen=True)
class Plan:
    n: int
    delta: bool
    changes: int
    warmup: int = WARMUP
    timeout: float = 10.0  # for one change to be ACKed
    # Before each change: Envoy's main thread, which applies xDS, also answers the stats read
    # that dates the last change (~60 ms at 10,000 clusters). A change made at once waited
    # behind it: Kubernetes mode at 10,000 measured p90 130 ms back to back, 5.5 ms with this.
    pause: float = 0.3


@contextmanager
def envoy(xds_port: int, delta: bool, workdir: Path) -> Iterator[Envoy]:
    config = bootstrap(ROOT / "envoy" / "bootstrap.yaml", xds_port, delta=delta)
    process = Envoy(config, workdir, name=f"envoy-{time.monotonic_ns()}")
    try:
        yield process
    finally:
        process.stop()


def envoy_cds(proxy: Envoy) -> tuple[str, int]:
    """Envoy's CDS version and when it applied it (ms since the epoch), from its stats."""
    stats = proxy.stats("cluster_manager.cds.")
    return (
        stats.get("cluster_manager.cds.version_text", "").strip('"'),
        int(stats.get("cluster_manager.cds.update_time", "0")),
    )


class _Samples:
    def __init__(self) -> None:
        self.ack: list[float] = []
        self.applied: list[float] = []
        self.mismatches: list[str] = []

    def add(self, started_ns: int, acked_ns: int, proxy: Envoy, version: str) -> None:
        envoy_version, applied_ms = envoy_cds(proxy)
        if envoy_version != version:
            self.mismatches.append(f"acked {version}, Envoy has {envoy_version}")
        self.ack.append((acked_ns - started_ns) / 1e9)
        self.applied.append((applied_ms - started_ns / 1e6) / 1e3)

    def result(self) -> dict[str, Any]:
        return {
            "ack": measure.summary_ms(self.ack) if self.ack else None,
            "envoy_applied": measure.summary_ms(self.applied) if self.applied else None,
            "version_text_mismatches": self.mismatches[:3],
        }


def _changes(plan: Plan) -> Iterator[tuple[bool, int]]:
    """(recorded, Service index) for the warm-up changes, then the measured ones, each after
    the plan's pause."""
    for k in range(plan.warmup + plan.changes):
        time.sleep(plan.pause)
        yield k >= plan.warmup, 1 + (k * 7919) % (plan.n - 1)


def through_control(server: Controlled, plan: Plan, workdir: Path) -> dict[str, Any]:
    samples = _Samples()
    with envoy(server.xds_port, plan.delta, workdir) as proxy:
        version = server.stats()["versions"]["cds"]
        wait_for(lambda: envoy_cds(proxy)[0] == version, 120, "Envoy to apply the fleet")
        for recorded, i in _changes(plan):
            before = server.stats()["acks"]
            started = time.time_ns()
            versions = server.change(i)["versions"]
            stats = wait_for(partial(_acked, server, before, versions), plan.timeout, "the ACK")
            if recorded:
                samples.add(started, stats["last_ack_ns"]["cds"], proxy, versions["cds"])
    return samples.result()


def _acked(server: Controlled, before: dict[str, int], versions: dict[str, str]) -> Any:
    """The server's stats once both the new clusters and their endpoints are ACKed."""
    stats = server.stats()
    done = all(
        stats["acks"].get(t, 0) > before.get(t, 0)
        and stats["last_ack_version"].get(t) == versions[t]
        for t in ("cds", "eds")
    )
    return stats if done else None


# Makes change number `generation` to Service i's policy; returns when it counts from (ns).
Change = Callable[[int, int], int]


def through_files(plan: Plan, workdir: Path, listener_port: int) -> dict[str, Any]:
    """`xdscp serve` on a directory; a policy file is saved and Envoy ACKs what follows."""
    directory = workdir / "fleet"
    fleet.write(directory, plan.n, listener_port)
    server = Xdscp([directory], workdir, listener_address="127.0.0.1")
    try:
        return through_serve(server, plan, workdir, partial(_save, directory), {})
    finally:
        server.stop()


def _save(directory: Path, i: int, generation: int) -> int:
    started = time.time_ns()
    fleet.save_policy(directory, i, generation)
    return started


def through_serve(
    server: Xdscp, plan: Plan, workdir: Path, change: Change, generation: dict[int, int]
) -> dict[str, Any]:
    """A live Envoy on a running `xdscp serve`: each `change` until Envoy ACKs the next CDS
    version, as xdscp's /status shows it. `generation` counts the changes made so far."""
    samples = _Samples()
    with envoy(server.xds_port, plan.delta, workdir) as proxy:
        acked = _acked_cds(server)
        wait_for(lambda: bool(acked()) and envoy_cds(proxy)[0] == acked(), 120, "the fleet")
        for recorded, i in _changes(plan):
            before = acked()
            generation[i] = generation.get(i, 0) + 1
            started = change(i, generation[i])
            version = _poll(partial(_changed, acked, before), plan.timeout)
            seen = time.time_ns()
            if recorded:
                samples.add(started, seen, proxy, version)
    return {**samples.result(), "poll_ms": POLL * 1000}


def _acked_cds(server: Xdscp) -> Callable[[], str]:
    def acked() -> str:
        streams = server.get_json("/status")["streams"]
        return str(streams[0]["types"].get("cds", {}).get("acked", "")) if streams else ""

    return acked


def _changed(acked: Callable[[], str], before: str) -> str | None:
    version = acked()
    return version if version != before else None


def _poll(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError("no ACK")
        time.sleep(POLL)
    return result
