"""A fake ADS stream: the servicer's handler driven in process without gRPC, as
go-control-plane's server tests drive theirs with a mock stream.

Every response it receives is checked as it arrives: a nonce never seen before on this stream,
a version, and resources of the response's own type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2

from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.server.ads import AdsServicer
from xdscp.server.fleet import Fleet

RECV_TIMEOUT = 10


class FakeContext:
    """What the handler asks of grpc.aio's ServicerContext: a peer without a certificate."""

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    async def abort(self, code: object, details: str) -> None:
        raise AssertionError(f"aborted: {code} {details}")


class FakeStream:
    def __init__(self, servicer: AdsServicer, delta: bool) -> None:
        self.delta = delta
        self.nonces: list[str] = []  # of every response, in the order received
        self._requests: asyncio.Queue[Any] = asyncio.Queue()
        self._responses: asyncio.Queue[Any] = asyncio.Queue()
        handler = servicer.delta if delta else servicer.sotw
        self._task = asyncio.create_task(self._pump(handler(self._incoming(), FakeContext())))

    def send(self, request: Any) -> None:
        self._requests.put_nowait(request)

    async def recv(self) -> Any:
        response = await asyncio.wait_for(self._responses.get(), RECV_TIMEOUT)
        assert response.nonce and response.nonce not in self.nonces, response.nonce
        self.nonces.append(response.nonce)
        assert response.system_version_info if self.delta else response.version_info
        for item in response.resources:
            packed = item.resource if self.delta else item
            assert packed.type_url == response.type_url
        return response

    async def close(self) -> None:
        self._requests.put_nowait(None)
        await self._task
        assert self._responses.empty(), "a response was never read"

    async def _incoming(self) -> AsyncIterator[Any]:
        while (request := await self._requests.get()) is not None:
            yield request

    async def _pump(self, responses: AsyncIterator[bytes]) -> None:
        parse: Any = (
            discovery_pb2.DeltaDiscoveryResponse if self.delta else discovery_pb2.DiscoveryResponse
        )
        async for raw in responses:
            self._responses.put_nowait(parse.FromString(raw))


@asynccontextmanager
async def fake_stream(
    cache: SnapshotCache, delta: bool = False, fleet: Fleet | None = None
) -> AsyncIterator[FakeStream]:
    stream = FakeStream(AdsServicer(cache, fleet or Fleet(), Metrics()), delta)
    try:
        yield stream
    finally:
        await stream.close()
