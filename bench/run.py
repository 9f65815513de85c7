"""Every figure of the bench beside its floor and its peer: `python -m bench.run [--quick]`.

Prints the results as JSON on stdout and a short table on stderr, and writes them to
bench/results/latest.json. `--quick` runs the floor and xdscp only, at smaller scale.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import fanout, gobuild, push, push_k8s, report, versions, wire
from bench.contenders import PEERS, XDSCP, Contender
from bench.fanout import Load
from bench.push import Plan
from bench.servers import Controlled
from tests.processes import free_port, workdir

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "latest.json"
STEP_TIMEOUT = 300
CHANGED = 5  # the cluster the fan-out changes


@dataclass(frozen=True)
class Scale:
    build: tuple[int, ...]
    push: tuple[Plan, ...]
    files: tuple[Plan, ...]
    kubernetes: tuple[Plan, ...]  # one API server for all (same N): ~10 s, then ~10 s a plan
    fanout: tuple[tuple[int, Load], ...]
    memory: tuple[int, Load] | None


# A fleet restart: 1,000 delta streams connecting at once, no ramp.
STAMPEDE = Load(1000, True, syncing=1000)
QUICK = Scale(
    build=(1000, 10000),
    push=(Plan(1000, False, 20), Plan(1000, True, 20)),
    files=(Plan(1000, False, 20),),
    kubernetes=(Plan(1000, False, 20),),
    fanout=(),
    memory=None,
)
FULL = Scale(
    build=(1000, 10000),
    push=(Plan(1000, False, 50), Plan(1000, True, 50)),
    files=(Plan(1000, False, 50), Plan(1000, True, 50)),
    kubernetes=(Plan(1000, False, 50), Plan(1000, True, 50)),
    fanout=(
        (1000, Load(1000, False)),
        (1000, Load(1000, True)),
        (1000, STAMPEDE),
    ),
    memory=(10000, Load(100, False)),
)
# Adds pushes and fan-outs at 10,000 Services: about ten more minutes, mostly xdscp's.
LARGE = Scale(
    build=FULL.build,
    push=tuple(Plan(n, delta, 50) for n in (1000, 10000) for delta in (False, True)),
    files=FULL.files,
    kubernetes=FULL.kubernetes,
    fanout=(
        *((n, Load(1000, delta)) for n in (1000, 10000) for delta in (False, True)),
        *((n, STAMPEDE) for n in (1000, 10000)),
    ),
    memory=FULL.memory,
)
# go-control-plane's linear cache versions delta resources by content: the unchanged endpoints
# of a changed cluster are not resent and Envoy keeps the cluster warming for 15 s. One change
# shows it (no ACK within 20 s); fifty would take many minutes.
LINEAR_DELTA = {"changes": 1, "warmup": 0, "timeout": 20.0}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def python_json(*argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=True,
        cwd=BENCH.parent,
    )
    return json.loads(done.stdout)


def run_build(ns: tuple[int, ...]) -> dict[str, dict[int, Any]]:
    runs = {"floor_clusters": ns, "floor_endpoints": (1, *ns), "snapshot": ns, "incremental": ns}
    out: dict[str, dict[int, Any]] = {}
    for what, sizes in runs.items():
        for n in sizes:
            out.setdefault(what, {})[n] = _guarded(
                f"{what} N={n}", partial(python_json, "-m", "bench.build", what, str(n))
            )
    return out


def run_peer_publish(peer: Path, ns: tuple[int, ...]) -> dict[str, dict[int, Any]]:
    out: dict[str, dict[int, Any]] = {}
    for contender in PEERS:
        for n in ns:
            log(f"{contender.label} publish N={n}")
            done = subprocess.run(
                [str(peer), "-n", str(n), "-cache", contender.cache, "-publish-bench", "3"],
                env={**os.environ, "GOMAXPROCS": str(contender.gomaxprocs)},
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
                check=True,
            )
            out.setdefault(contender.label, {})[n] = json.loads(done.stdout)
    return out


@contextmanager
def started(
    contender: Contender, n: int, peer: Path | None, where: Path, listener_port: int = 0
) -> Iterator[Controlled]:
    server = contender.start(where, n, listener_port or free_port(), peer)
    try:
        yield server
    finally:
        server.stop()


def _guarded(what: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A failed measurement is a result too: its error is reported, the run goes on."""
    log(what)
    try:
        return measure()
    except Exception as err:
        detail = getattr(err, "stderr", None) or err
        log(f"{what}: {type(err).__name__}: {detail}")
        return {"error": f"{type(err).__name__}: {detail}"[-500:]}


def key(n: int, delta: bool) -> str:
    return f"{'delta' if delta else 'sotw'}@{n}"


def run_push(
    contenders: tuple[Contender, ...], plans: tuple[Plan, ...], peer: Path | None, where: Path
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for contender in contenders:
        for plan in plans:
            if contender.is_peer and plan.n > 1000 and contender.gomaxprocs == 1:
                continue  # at 10,000 the peer runs at GOMAXPROCS 2 only, to keep the run short
            if contender.cache == "linear" and plan.delta:
                plan = Plan(plan.n, plan.delta, **LINEAR_DELTA)  # type: ignore[arg-type]

            def measure(c: Contender = contender, p: Plan = plan) -> dict[str, Any]:
                with started(c, p.n, peer, where) as server:
                    return push.through_control(server, p, where)

            name = key(plan.n, plan.delta)
            out.setdefault(contender.label, {})[name] = _guarded(
                f"push {contender.label} {name}", measure
            )
    return out


def run_files(plans: tuple[Plan, ...], where: Path) -> dict[str, Any]:
    out = {}
    for plan in plans:
        name = key(plan.n, plan.delta)
        measure = partial(push.through_files, plan, where / f"files-{name}", free_port())
        out[name] = _guarded(f"push files {name}", measure)
    return out


def run_kubernetes(plans: tuple[Plan, ...], where: Path) -> dict[str, Any]:
    """The API server and the fleet are set up once for every plan; a failure fails them all."""
    if not plans:
        return {}
    names = {plan: key(plan.n, plan.delta) for plan in plans}

    def measure() -> dict[str, Any]:
        measured = push_k8s.through_kubernetes(plans, where / "kubernetes")
        return {names[plan]: figures for plan, figures in measured.items()}

    out = _guarded(f"push kubernetes {', '.join(names.values())}", measure)
    return dict.fromkeys(names.values(), out) if "error" in out else out


def run_fanout(
    contenders: tuple[Contender, ...],
    loads: tuple[tuple[int, Load], ...],
    peer: Path | None,
    loadgen: Path,
    where: Path,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for contender in contenders:
        for n, load in loads:
            if contender.is_peer and n > 1000 and contender.gomaxprocs == 1:
                continue

            def measure(c: Contender = contender, n: int = n, load: Load = load) -> Any:
                with started(c, n, peer, where) as server:
                    return fanout.run(server, loadgen, load, CHANGED)

            name = f"{key(n, load.delta)}x{load.streams}{'-stampede' if load.stampede else ''}"
            out.setdefault(contender.label, {})[name] = _guarded(
                f"fan-out {contender.label} {name}", measure
            )
    return out


def run_same(n: int, peer: Path, where: Path) -> dict[str, Any]:
    """Every resource from xdscp and from each peer cache, hashed off the wire, before and
    after the same change."""
    out: dict[str, Any] = {}
    for contender in (c for c in PEERS if c.gomaxprocs == 2):
        port = free_port()
        with (
            started(XDSCP, n, None, where, port) as ours,
            started(contender, n, peer, where, port) as theirs,
        ):
            before = wire.compare(wire.fetch(ours.xds_port), wire.fetch(theirs.xds_port))
            ours.change(CHANGED)
            theirs.change(CHANGED)
            after = wire.compare(wire.fetch(ours.xds_port), wire.fetch(theirs.xds_port))
            out[contender.cache] = {"initial": before, "after_change": after}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="floor and xdscp only, smaller")
    size.add_argument("--large", action="store_true", help="also push and fan out at 10,000")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    scale = QUICK if args.quick else LARGE if args.large else FULL
    started_at = time.monotonic()
    peer = loadgen = None
    if not args.quick:
        log("building the Go peer and load generator (cached)")
        peer, loadgen = gobuild.binary("gcp-peer"), gobuild.binary("loadgen")
    contenders = (XDSCP,) if args.quick else (XDSCP, *PEERS)
    results: dict[str, Any] = {"build": run_build(scale.build)}
    if peer is not None:
        results["peer_publish"] = run_peer_publish(peer, scale.build)
    with workdir("xdscp-bench-") as where:
        if peer is not None:
            results["same_resources"] = _guarded(
                "same resources", lambda: run_same(1000, peer, where)
            )
        results["push"] = run_push(contenders, scale.push, peer, where)
        results["files"] = run_files(scale.files, where)
        results["kubernetes"] = run_kubernetes(scale.kubernetes, where)
        if loadgen is not None:
            results["fanout"] = run_fanout(contenders, scale.fanout, peer, loadgen, where)
            if scale.memory is not None:
                n, load = scale.memory
                results["memory"] = run_fanout(contenders, ((n, load),), peer, loadgen, where)
    document = {
        "meta": {
            **versions.collect(),
            "mode": "quick" if args.quick else "large" if args.large else "full",
            "seconds": round(time.monotonic() - started_at, 1),
            "scale": json.loads(json.dumps(asdict(scale))),
        },
        "figures": report.figures(results),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document, indent=1))
    print(report.table(document), file=sys.stderr)


if __name__ == "__main__":
    main()
