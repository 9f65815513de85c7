"""Hostile xDS clients beside a live Envoy: the Envoy keeps getting updates, the server's
memory stays bounded and does not grow from one round of attackers to the next, its log
stays small, and each attacker is ended or contained.

The attacks are issue 18's, at the default bounds (tests/server/attacks.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from tests.e2e.test_guide import GUIDE_KEEPALIVE, keepalive
from tests.live import Stack
from tests.server.attacks import churned_name_sets, held_then_nibbled, log_flood
from xdscp.demo.processes import Xdscp, http_get

pytestmark = [pytest.mark.envoy, pytest.mark.process]

MIB = 1024 * 1024
# Generous: before the fix, each round grew the server by ~75 MiB (40 name sets) and kept it.
PEAK_GROWTH = 128 * MIB
REPEAT_GROWTH = 80 * MIB
LOG_GROWTH = 256 * 1024  # a few lines of a few hundred bytes; before the fix, over 100 MB


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


def rejected(xdscp: Xdscp) -> dict[str, float]:
    """xdscp_requests_rejected_total by reason, from /metrics."""
    text = http_get(xdscp.admin + "/metrics")[1].decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("xdscp_requests_rejected_total{"):
            labels, value = line.split("} ")
            counts[labels.split('reason="')[1].rstrip('"')] = float(value)
    return counts


def attack_round(xdscp: Xdscp, meanwhile: Callable[[], None]) -> int:
    """Every attack at once; `meanwhile` runs once they are under way. Returns the server's
    RSS at the end, with the name-churning stream still open."""

    async def churn(progress: asyncio.Event, taken: asyncio.Event, done: asyncio.Event) -> None:
        # 40 sets of 10,000 names: 400,000 names, past the pace's burst for a few seconds.
        async with churned_name_sets(xdscp.xds_port, requests=40, progress=progress):
            taken.set()
            await done.wait()

    async def scenario() -> int:
        progress, taken, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
        attacks = asyncio.gather(
            churn(progress, taken, done),
            held_then_nibbled(xdscp.xds_port, 90_000, 45_000, 200),
            log_flood(xdscp.xds_port),
        )
        await progress.wait()
        await asyncio.to_thread(meanwhile)
        await taken.wait()
        peak = rss(xdscp.popen.pid)
        done.set()
        _, _, codes = await attacks
        assert codes == [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED]
        return peak

    return asyncio.run(scenario())


def test_hostile_clients_leave_the_envoy_served_and_memory_bounded(stack: Stack) -> None:
    assert stack.xdscp is not None
    xdscp = stack.xdscp
    stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the guide's keepalive")
    before, log_before = rss(xdscp.popen.pid), xdscp.log_path.stat().st_size

    def envoy_updated() -> None:
        """The well-behaved Envoy, meanwhile: a policy change reaches it, health answers."""
        stack.write_policy(stack.policy_text().replace("keepAliveProbes: 3", "keepAliveProbes: 7"))
        probes_7 = {**GUIDE_KEEPALIVE, "keepalive_probes": 7}
        stack.wait_cluster(lambda c: keepalive(c) == probes_7, "probes 7 during the attacks")
        assert http_get(xdscp.admin + "/healthz")[0] == 200

    peak = attack_round(xdscp, envoy_updated)
    assert peak - before < PEAK_GROWTH, (before // MIB, peak // MIB)
    after = [rss(xdscp.popen.pid)]
    # The same attackers again, twice: what they made the server keep, if anything, would be
    # kept three times now (the allocator's own ups and downs are a few tens of MiB).
    for _ in range(2):
        attack_round(xdscp, lambda: None)
        after.append(rss(xdscp.popen.pid))
    assert max(after) - after[0] < REPEAT_GROWTH, [a // MIB for a in after]
    assert xdscp.log_path.stat().st_size - log_before < LOG_GROWTH
    counts = rejected(xdscp)
    assert counts["node_id_too_long"] == 3 and counts["too_many_unknown_types"] == 3
    # After all that, a change still reaches the Envoy.
    stack.write_policy(stack.policy_text())
    stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the guide's keepalive again")
