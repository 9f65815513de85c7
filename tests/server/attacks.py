"""Hostile xDS clients, scripted: what issue 18 found hurting the server, as reusable clients.

Each one speaks well-formed xDS; only what it asks for is hostile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from tests.server.harness import delta, sotw, stream
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.server.admission import Limits

UNKNOWN = "type.googleapis.com/envoy.nothing.v3.Thing"


def missing_names(batch: int, count: int) -> list[str]:
    """`count` names nothing has, ~70 bytes each (the size of a long cluster name), and none
    shared between batches."""
    return [f"{batch:04d}-{i:06d}-" + "x" * 58 for i in range(count)]


@asynccontextmanager
async def churned_name_sets(
    port: int, requests: int = 100, names: int = 10_000, progress: asyncio.Event | None = None
) -> AsyncIterator[None]:
    """One SotW stream asking for EDS by a new set of names that do not exist, `requests`
    times (a server that memoizes responses by name set keeps every one). Nothing exists, so
    nothing changes and every request answers the first response. Yields, the stream still
    open, once the server has taken them all; `progress` is set after the tenth."""
    async with stream(port) as ads:
        await ads.send(sotw(EDS, missing_names(0, names), with_node=True))
        first = await ads.recv()
        for batch in range(1, requests):
            names_ = missing_names(batch, names)
            await ads.send(sotw(EDS, names_, version=first.version_info, nonce=first.nonce))
            if batch == 10 and progress:
                progress.set()
        await ads.send(sotw(LDS))  # answered only after all of the above were taken
        assert (await ads.recv()).type_url == LDS
        yield


async def held_then_nibbled(port: int, held: int, chunk: int, nibbles: int) -> None:
    """One delta stream subscribing `held` names that do not exist, `chunk` at a time, then
    `nibbles` more one by one, each awaited (a server that rescans what a stream holds on
    every subscription change spends all of that on each nibble)."""
    async with stream(port, delta=True) as ads:
        for start in range(0, held, chunk):
            names = missing_names(start // chunk, min(chunk, held - start))
            await ads.send(delta(EDS, subscribe=names, with_node=start == 0))
            response = await ads.recv()
            await ads.send(delta(EDS, nonce=response.nonce))
        for i in range(nibbles):
            await ads.send(delta(EDS, subscribe=[f"nibble-{i}"]))
            response = await ads.recv()
            assert list(response.removed_resources) == [f"nibble-{i}"]  # "no such resource"
            await ads.send(delta(EDS, nonce=response.nonce))


async def log_flood(port: int, node_id_bytes: int = 5 * 1024 * 1024) -> list[grpc.StatusCode]:
    """A huge node id; then distinct unknown types, as many as a stream will take: each logged
    once per stream, and (unbounded) each with the node id in the line."""
    codes = []
    async with stream(port) as ads:
        request = sotw(EDS)
        request.node.id = "x" * node_id_bytes
        await ads.send(request)
        codes.append(await ads.ended())
    async with stream(port) as ads:
        await ads.send(sotw(f"{UNKNOWN}0", with_node=True))
        # One past the default bound, and no more: a write racing the end of the stream makes
        # grpc.aio report INTERNAL instead of the server's status (grpc/grpc#36066).
        for i in range(1, Limits().unknown_types + 1):
            await ads.send(sotw(f"{UNKNOWN}{i}"))
        codes.append(await ads.ended())
    return codes
