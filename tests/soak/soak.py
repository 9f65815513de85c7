"""A bounded soak on loopback: xdscp serving files, many ADS streams, a policy change every
100 ms. At the end every stream must hold the final version, with no NACK and no error, and
the server's memory must not have grown.

    python -m tests.soak.soak --seconds 600 --streams 1000 --services 10000   (`make soak`)

It prints what it measured as JSON and exits 1 when the run broke the soak's contract (a
stream never final, a NACK, an error); how fast streams got final is reported, not checked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fleet
from tests.files import replace
from tests.live import POLICY, ROOT
from tests.processes import Xdscp
from tests.soak.loadgen import variant_of
from xdscp.demo.processes import NotReady, Process, http_get, wait_for
from xdscp.resourcetypes import CLUSTER
from xdscp.snapshot import Snapshot
from xdscp.sources.files import FileSource
from xdscp.translate import translate

CHANNELS = 20
PERIOD = 0.1  # seconds between policy changes
SHIPPED_PROBES = 3  # the changed policy's keepAliveProbes as shipped
# The last change alone writes this value, so the version every stream must end on is known
# before the run (versions come from content), and the wait for it starts at the last change.
FINAL_PROBES = 99
SYNC_DEADLINE = 300  # seconds for every stream to get the first version (10,000 Services: ~10 s)
FINAL_DEADLINE = 120  # seconds, from the last change, for the server and then every stream


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def write_policy(policies: Path, probes: int) -> None:
    text = (
        (ROOT / "policies" / POLICY)
        .read_text()
        .replace(f"keepAliveProbes: {SHIPPED_PROBES}", f"keepAliveProbes: {probes}")
    )
    replace(policies / POLICY, text)


def final_version(policies: Path) -> str:
    """The CDS version of `policies` once the last change is written; the file is then put
    back as shipped."""
    write_policy(policies, FINAL_PROBES)
    version = Snapshot.build(translate(FileSource([policies]).load().resources)).versions[CLUSTER]
    write_policy(policies, SHIPPED_PROBES)
    return version


def holding(server: Xdscp, version: str) -> Counter[str] | None:
    """The streams holding `version` of the clusters, ACKed, by variant; None while /status is
    too busy to answer (a backlogged server's event loop)."""
    try:
        status = server.get_json("/status")
    except OSError:
        return None
    return Counter(
        s["variant"]
        for s in status["streams"]
        if s["types"].get("cds", {}).get("acked") == version and not s["types"]["cds"]["in_flight"]
    )


def all_holding(server: Xdscp, version: str, streams: int) -> bool:
    return (held := holding(server, version)) is not None and held.total() == streams


def serving(server: Xdscp, version: str) -> bool:
    try:
        return bool(server.get_json("/status")["versions"]["cds"] == version)
    except OSError:
        return False


def run(seconds: float, streams: int, workdir: Path, services: int = 1) -> dict[str, Any]:
    """`services` Services: the shipped httpbin one (whose policy changes) and the benchmark
    fleet's beside it."""
    policies = workdir / "policies"
    shutil.copytree(ROOT / "policies", policies)
    fleet.write_services(policies / "fleet", services - 1)
    final = final_version(policies)
    server = Xdscp([policies], workdir)
    result = workdir / "loadgen.json"
    lifetime = int(seconds) + SYNC_DEADLINE + 2 * FINAL_DEADLINE + 120  # outlives every wait
    argv = [sys.executable, "-m", "tests.soak.loadgen", str(server.xds_port), str(streams),
            str(CHANNELS), str(lifetime), str(result)]  # fmt: skip
    loadgen = Process("loadgen", argv, workdir, env={"PYTHONPATH": str(ROOT)})
    try:
        first, connected = server.get_json("/status")["versions"]["cds"], time.monotonic()
        wait_for(lambda: all_holding(server, first, streams), SYNC_DEADLINE, "every stream")
        synced = time.monotonic() - connected
        rss = [rss_mib(server.popen.pid)]
        processes = {"server": server.popen.pid, "loadgen": loadgen.popen.pid}
        cpu = {name: cpu_seconds(pid) for name, pid in processes.items()}
        changes, started = 0, time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            changes += 1
            write_policy(policies, 100 + changes)
            if int(elapsed) >= len(rss):
                rss.append(rss_mib(server.popen.pid))
            time.sleep(max(0.0, started + changes * PERIOD - time.monotonic()))  # the schedule
        changes += 1
        write_policy(policies, FINAL_PROBES)
        last, written = time.monotonic(), time.time()
        served = _seconds_until(lambda: serving(server, final), last)
        client = _client_report(result, final)
        cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in processes.items()}
        wall = time.monotonic() - started
        by_variant = _final_by_variant(client, final, written)
        # Every stream's ACK of it, as the server saw them.
        _seconds_until(lambda: all_holding(server, final, streams), last)
        built = _metric(server, "xdscp_snapshot_build_seconds_count")
        return {
            "services": services,
            "streams": streams,
            "seconds": round(seconds),
            "change_interval_ms": round(PERIOD * 1000),
            "changes": changes,
            "sync_seconds": round(synced, 2),
            "final_version": final,
            # From the last change: None when it did not happen within FINAL_DEADLINE. Streams
            # are final when they receive the final version (the load generator's clock).
            "server_final_seconds": served,
            "final_within_seconds": _latest(by_variant),
            "final_within_seconds_by_variant": by_variant,
            "streams_final": (holding(server, final) or Counter()).total(),
            "client_versions_final": sum(v == final for v in client["versions"]),
            "client_errors": client["errors"],
            "nacks": _metric(server, "xdscp_nacks_total"),
            # Over the run, the first included: fewer than changes when changes that came
            # while one was built were taken together (a backlog).
            "snapshots_built": built,
            "snapshot_build_seconds_mean": round(
                _metric(server, "xdscp_snapshot_build_seconds_sum") / max(built, 1), 3
            ),
            # From the first change until every stream was final (or the deadline): a process
            # near 1.0 had a core to itself the whole time and is what limits the figures.
            "cpu_share": {name: round(seconds / wall, 2) for name, seconds in cpu.items()},
            "server_errors": [
                line for line in server.log_path.read_text().splitlines() if " ERROR " in line
            ],
            "rss_mib_start": round(rss[1] if len(rss) > 1 else rss[0], 1),
            "rss_mib_end": round(rss_mib(server.popen.pid), 1),
            "rss_mib_max_changing": round(max(rss), 1),  # sampled every second
            "rss_mib_peak": round(rss_mib(server.popen.pid, "VmHWM"), 1),  # start-up included
        }
    finally:
        result.with_suffix(".stop").touch()
        loadgen.stop()
        server.stop()


def broken(result: dict[str, Any]) -> list[str]:
    """The promises of the soak this run did not keep."""
    promises = {
        "every stream final": result["final_within_seconds"] is not None
        and result["client_versions_final"] == result["streams"]
        and result["streams_final"] == result["streams"],
        "no NACK": result["nacks"] == 0,
        "no client error": not result["client_errors"],
        "no server error": not result["server_errors"],
    }
    return [promise for promise, kept in promises.items() if not kept]


def _seconds_until(check: Callable[[], bool], since: float) -> float | None:
    """Seconds from `since` until `check` holds (polled), or None if not by FINAL_DEADLINE."""
    try:
        wait_for(check, since + FINAL_DEADLINE - time.monotonic(), "the final version")
    except NotReady:
        return None
    return round(time.monotonic() - since, 2)


def _final_by_variant(client: dict[str, Any], final: str, since: float) -> dict[str, float | None]:
    """Seconds from `since` (the wall clock) until the last stream of each variant received
    `final`, by the load generator's clock; None for a variant with a stream that did not."""
    seconds: dict[str, list[float]] = {}
    missing: set[str] = set()
    for i, (version, at) in enumerate(zip(client["versions"], client["received_at"], strict=True)):
        variant = variant_of(i).name
        seconds.setdefault(variant, []).append(at - since)
        if version != final:
            missing.add(variant)
    return {v: None if v in missing else round(max(s), 2) for v, s in seconds.items()}


def _latest(seconds: dict[str, float | None]) -> float | None:
    """The last of them to come, or None if one never came."""
    came = [s for s in seconds.values() if s is not None]
    return max(came) if len(came) == len(seconds) else None


def _client_report(result: Path, final: str) -> dict[str, Any]:
    """The load generator's own view, once it shows every stream final (it writes it every
    half second), or as it stands when the deadline passes."""
    try:
        return wait_for(
            lambda: (
                report
                if (report := _report(result)) and all(v == final for v in report["versions"])
                else None
            ),
            FINAL_DEADLINE,
            "the load generator to report the final version everywhere",
        )
    except NotReady:
        return _report(result)


def _metric(server: Xdscp, name: str) -> float:
    text = http_get(server.admin + "/metrics")[1].decode()
    lines = text.splitlines()
    return sum(
        float(line.split()[-1])
        for line in lines
        if line.partition("{")[0].partition(" ")[0] == name
    )


def _report(result: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.read_text())
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--services", type=int, default=1, help="Services served (>= 1)")
    args = parser.parse_args()
    if args.services < 1:
        parser.error("--services: at least 1 (the Service whose policy changes)")
    with tempfile.TemporaryDirectory(prefix="xdscp-soak-") as directory:
        measured = run(args.seconds, args.streams, Path(directory), args.services)
    print(json.dumps(measured, indent=2))
    if failed := broken(measured):
        sys.exit(f"soak: broke its contract: {', '.join(failed)}")
