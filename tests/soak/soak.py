"""A bounded soak on loopback: xdscp serving files, many ADS streams, a policy change every
100 ms. At the end every stream must hold the final version, with no NACK and no error, and
the server's memory must not have grown.

    python -m tests.soak.soak --seconds 600 --streams 1000     (what `make soak` runs)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.files import replace
from tests.live import POLICY, ROOT
from tests.processes import Xdscp
from xdscp.demo.processes import NotReady, Process, http_get, wait_for
from xdscp.resourcetypes import CLUSTER
from xdscp.snapshot import Snapshot
from xdscp.sources.files import FileSource
from xdscp.translate import translate

CHANNELS = 20
PERIOD = 0.1  # seconds between policy changes


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def write_policy(policies: Path, probes: int) -> None:
    text = (
        (ROOT / "policies" / POLICY)
        .read_text()
        .replace("keepAliveProbes: 3", f"keepAliveProbes: {probes}")
    )
    replace(policies / POLICY, text)


def streams_at(server: Xdscp, version: str) -> int:
    status = server.get_json("/status")
    return sum(
        1
        for s in status["streams"]
        if s["types"].get("cds", {}).get("acked") == version and not s["types"]["cds"]["in_flight"]
    )


def run(seconds: float, streams: int, workdir: Path) -> dict[str, Any]:
    policies = workdir / "policies"
    shutil.copytree(ROOT / "policies", policies)
    server = Xdscp([policies], workdir)
    result = workdir / "loadgen.json"
    argv = [sys.executable, "-m", "tests.soak.loadgen", str(server.xds_port), str(streams),
            str(CHANNELS), str(int(seconds) + 300), str(result)]  # fmt: skip
    loadgen = Process("loadgen", argv, workdir, env={"PYTHONPATH": str(ROOT)})
    try:
        first = server.get_json("/status")["versions"]["cds"]
        wait_for(lambda: streams_at(server, first) == streams or None, 120, f"{streams} streams")
        rss = [rss_mib(server.popen.pid)]
        changes, started = 0, time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            changes += 1
            write_policy(policies, 100 + changes)
            if int(elapsed) >= len(rss):
                rss.append(rss_mib(server.popen.pid))
            time.sleep(max(0.0, started + changes * PERIOD - time.monotonic()))  # the schedule
        # Versions come from content: what the server must end on is known offline.
        final = Snapshot.build(translate(FileSource([policies]).load().resources)).versions[CLUSTER]
        wait_for(lambda: server.get_json("/status")["versions"]["cds"] == final, 30, "last change")
        converged = time.monotonic()
        wait_for(lambda: streams_at(server, final) == streams or None, 120, "every stream final")
        client = _client_report(result, final)
        return {
            "seconds": round(seconds),
            "streams": streams,
            "changes": changes,
            "final_version": final,
            "convergence_seconds": round(time.monotonic() - converged, 2),
            "client_versions_final": sum(v == final for v in client["versions"]),
            "client_errors": client["errors"],
            "nacks": _metric(server, "xdscp_nacks_total"),
            "server_errors": [
                line for line in server.log_path.read_text().splitlines() if " ERROR " in line
            ],
            "rss_mib_start": round(rss[1] if len(rss) > 1 else rss[0], 1),
            "rss_mib_end": round(rss_mib(server.popen.pid), 1),
        }
    finally:
        result.with_suffix(".stop").touch()
        loadgen.stop()
        server.stop()


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
            30,
            "the load generator to report the final version everywhere",
        )
    except NotReady:
        report: dict[str, Any] = json.loads(result.read_text())
        return report


def _metric(server: Xdscp, name: str) -> float:
    text = http_get(server.admin + "/metrics")[1].decode()
    lines = text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(name + "{"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xdscp-soak-") as directory:
        print(json.dumps(run(args.seconds, args.streams, Path(directory)), indent=2))


def _report(result: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.read_text())
    return report
