"""How late the event loop runs a timer: the time something held the loop (a translation, a
large response being built) and kept every stream, probe and watch waiting."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

INTERVAL = 0.05  # seconds between samples: lag shorter than a few ms is not worth a wake-up


async def watch(lag: Histogram, interval: float = INTERVAL) -> None:
    """Observe, forever, how much later than asked each sleep of `interval` ended."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - started - interval))
