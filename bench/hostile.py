"""Push latency to a live Envoy with and without issue 18's hostile clients on the same server.

`xdscp serve` on a fleet of N Services and one Envoy (SotW, then delta). A policy file is saved
and the time until Envoy applies the new clusters (its `cds.version_text` changes) is taken,
first on a quiet server, then while the attacks of tests/server/attacks.py run without pause
from another thread: SotW streams churning name sets, a delta stream holding 90,000 names and
nibbling more, and log floods. Issue 18 asks for the attacked p50 within 2x of the quiet one.
Prints JSON.

    python -m bench.hostile [--services 100] [--changes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from bench import fleet, measure
from bench.push import envoy, envoy_cds
from tests.processes import Envoy, Xdscp, free_port, workdir
from tests.server.attacks import churned_name_sets, held_then_nibbled, log_flood
from xdscp.demo.processes import wait_for

WARMUP = 3


class Attacks:
    """The attacks, round after round in a thread of their own, until `stop`."""

    def __init__(self, xds_port: int) -> None:
        self.xds_port = xds_port
        self.rounds = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)

    def __enter__(self) -> Attacks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join(120)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await asyncio.gather(
                self._churn(),
                held_then_nibbled(self.xds_port, 90_000, 45_000, 200),
                log_flood(self.xds_port),
            )
            self.rounds += 1

    async def _churn(self) -> None:
        async with churned_name_sets(self.xds_port):
            pass


def pushes(directory: Path, proxy: Envoy, n: int, changes: int, generation: list[int]) -> Any:
    """Seconds from saving a policy to Envoy applying the clusters, for each change."""
    samples = []
    for k in range(WARMUP + changes):
        before = envoy_cds(proxy)[0]

        def applied(before: str = before) -> bool | None:
            return envoy_cds(proxy)[0] != before or None

        generation[0] += 1
        started = time.monotonic()
        fleet.save_policy(directory, 1 + (k * 7919) % (n - 1), generation[0])
        wait_for(applied, 30, "Envoy to apply it")
        if k >= WARMUP:
            samples.append(time.monotonic() - started)
    return measure.summary_ms(samples)


def run(n: int, changes: int, delta: bool) -> dict[str, Any]:
    with workdir("xdscp-bench-hostile-") as where:
        directory = where / "fleet"
        fleet.write(directory, n, free_port())
        server = Xdscp([directory], where, listener_address="127.0.0.1")
        try:
            with envoy(server.xds_port, delta, where) as proxy:
                wait_for(lambda: envoy_cds(proxy)[0] or None, 120, "Envoy to get the fleet")
                generation = [0]
                quiet = pushes(directory, proxy, n, changes, generation)
                with Attacks(server.xds_port) as attacks:
                    attacked = pushes(directory, proxy, n, changes, generation)
                rounds = attacks.rounds
        finally:
            server.stop()
    return {
        "quiet": quiet,
        "attacked": attacked,
        "attack_rounds": rounds,
        "p50_ratio": round(attacked["p50_ms"] / quiet["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    results = {
        variant: run(args.services, args.changes, variant == "delta")
        for variant in ("sotw", "delta")
    }
    print(json.dumps({"services": args.services, **results}, indent=2))


if __name__ == "__main__":
    main()
