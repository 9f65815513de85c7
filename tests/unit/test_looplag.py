"""The loop-lag metric sees the loop held: a blocking call shows as a late timer."""

from __future__ import annotations

import asyncio
import time

from xdscp import looplag
from xdscp.metrics import Metrics


def test_a_held_loop_shows_as_lag() -> None:
    metrics = Metrics()

    async def scenario() -> None:
        watcher = asyncio.create_task(looplag.watch(metrics.loop_lag, interval=0.01))
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # the loop held, as by a long translation
        await asyncio.sleep(0.05)
        watcher.cancel()

    asyncio.run(scenario())
    over = metrics.registry.get_sample_value("xdscp_event_loop_lag_seconds_bucket", {"le": "0.1"})
    count = metrics.registry.get_sample_value("xdscp_event_loop_lag_seconds_count")
    assert count is not None and over is not None
    assert count - over >= 1  # one sample at least 0.1 s late: the 0.3 s hold
