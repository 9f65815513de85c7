"""xdscp's real pipeline and ADS server, serving the bench fleet behind the bench's control
surface (the Go peer serves the same): POST /change?i=K and GET /stats.

    python -m bench.harness_xdscp --n 10000 --ready-file ready.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from prometheus_client import Counter

from bench import measure
from bench.fleet import Model
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.pipeline import Pipeline
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.server.ads import AdsServicer, start_server
from xdscp.server.fleet import Fleet
from xdscp.snapshot import Snapshot
from xdscp.sources import Update
from xdscp.translate import Options


class _AckClock:
    """Stands in for the ACK counter: counts as it does and notes when each type was ACKed."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.last_ns: dict[str, int] = {}

    def labels(self, short: str) -> _Forward:
        self.last_ns[short] = time.time_ns()
        return _Forward(self.counter.labels(short))


class _Forward:
    def __init__(self, child: Counter) -> None:
        self.child = child

    def inc(self) -> None:
        self.child.inc()


class StampedMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        self.clock = _AckClock(self.acks)
        self.acks = cast(Counter, self.clock)


class Harness:
    def __init__(self, n: int, listener_port: int, profile: Path | None = None) -> None:
        self.profile: Path | None = profile
        self.profiler: Any = None  # a pyinstrument Profiler once profiling
        self.model = Model(n, listener_port)
        self.metrics, self.fleet, self.cache = StampedMetrics(), Fleet(), SnapshotCache()
        self.pipeline = Pipeline(self.cache, self.metrics, Options(listener_address="127.0.0.1"))
        self._publish()

    def _publish(self) -> Snapshot:
        served = self.pipeline.apply(Update(self.model.resources(), ()))
        assert served is not None
        return served.snapshot

    async def change(self, request: web.Request) -> web.Response:
        if self.profile and self.profiler is None:  # from the first change to the end
            from pyinstrument import Profiler  # a dev tool: imported only when asked for

            self.profiler = Profiler(async_mode="disabled")
            self.profiler.start()
        started = time.perf_counter()
        self.model.change(int(request.query["i"]))
        snapshot = self._publish()
        return _json(
            {"publish_seconds": time.perf_counter() - started, "versions": _short(snapshot)}
        )

    async def stats(self, _: web.Request) -> web.Response:
        streams = self.fleet.describe()
        rss, hwm = measure.memory()
        latest = streams[-1]["types"] if streams else {}
        snapshot = self.pipeline.served.snapshot if self.pipeline.served else None
        return _json(
            {
                "streams": len(streams),
                "acks": self._counts("xdscp_acks_total"),
                "nacks": self._counts("xdscp_nacks_total"),
                "last_ack_ns": self.metrics.clock.last_ns,
                "last_ack_version": {short: t["acked"] for short, t in latest.items()},
                "rss_bytes": rss,
                "hwm_bytes": hwm,
                "cpu_seconds": measure.cpu_seconds(),
                "versions": _short(snapshot) if snapshot else {},
            }
        )

    def _counts(self, metric: str) -> dict[str, int]:
        registry = self.metrics.registry
        counts = {s: registry.get_sample_value(metric, {"type": s}) for s in SHORT_NAMES.values()}
        return {short: int(count) for short, count in counts.items() if count}


def _short(snapshot: Snapshot) -> dict[str, str]:
    return {SHORT_NAMES[t]: v for t, v in snapshot.versions.items()}


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


async def serve(args: argparse.Namespace) -> None:
    harness = Harness(args.n, args.listener_port, args.profile)
    servicer = AdsServicer(harness.cache, harness.fleet, harness.metrics)
    server, xds_port = await start_server(servicer, f"127.0.0.1:{args.xds_port}")
    app = web.Application()
    app.router.add_post("/change", harness.change)
    app.router.add_get("/stats", harness.stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.control_port).start()
    control_port = int(runner.addresses[0][1])
    args.ready_file.write_text(json.dumps({"xds_port": xds_port, "control_port": control_port}))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop(grace=None)
        await runner.cleanup()
        if harness.profiler is not None and args.profile is not None:
            harness.profiler.stop()
            args.profile.write_text(harness.profiler.output_text(show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--listener-port", type=int, default=10080)
    parser.add_argument("--xds-port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile here")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
