"""Many ADS streams from one process: half state of the world, half delta, each ACKing every
response and keeping the last CDS version it got. Loopback only, bounded in time.

    python -m tests.soak.loadgen PORT STREAMS CHANNELS SECONDS RESULT_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from xdscp.resourcetypes import CLUSTER as CDS


@dataclass(frozen=True)
class Variant:
    """What differs between the two ADS variants: the call, the request type, where a response
    carries its version, and what an ACK of it holds besides the nonce."""

    name: str  # as xdscp's /status names it
    call: Callable[[ads_pb2_grpc.AggregatedDiscoveryServiceStub], Any]
    request: Callable[..., Any]
    version: Callable[[Any], str]
    ack_extra: Callable[[Any], dict[str, str]]


SOTW = Variant(
    name="sotw",
    call=lambda stub: stub.StreamAggregatedResources(),
    request=discovery_pb2.DiscoveryRequest,
    version=lambda response: response.version_info,
    ack_extra=lambda response: {"version_info": response.version_info},
)
DELTA = Variant(
    name="delta",
    call=lambda stub: stub.DeltaAggregatedResources(),
    request=discovery_pb2.DeltaDiscoveryRequest,
    version=lambda response: response.system_version_info,
    ack_extra=lambda response: {},
)


def variant_of(stream: int) -> Variant:
    return SOTW if stream % 2 == 0 else DELTA


async def subscribe(
    variant: Variant,
    stub: ads_pb2_grpc.AggregatedDiscoveryServiceStub,
    index: int,
    last: list[str],
) -> None:
    """Subscribes to every cluster, ACKs every response and keeps the last version in `last`."""
    call = variant.call(stub)
    request = variant.request(type_url=CDS)
    request.node.CopyFrom(base_pb2.Node(id=f"soak-{index}", cluster="soak"))
    await call.write(request)
    async for response in call:
        last[index] = variant.version(response)
        ack = variant.request(
            type_url=CDS, response_nonce=response.nonce, **variant.ack_extra(response)
        )
        await call.write(ack)


async def main(port: int, streams: int, channels: int, seconds: float, result: Path) -> None:
    last = [""] * streams
    opened = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    stubs = [ads_pb2_grpc.AggregatedDiscoveryServiceStub(c) for c in opened]
    tasks = [
        asyncio.create_task(subscribe(variant_of(i), stubs[i % channels], i, last))
        for i in range(streams)
    ]
    try:
        # Run until told to stop (the result file's `.stop` twin appears) or the time is up.
        stop = result.with_suffix(".stop")
        deadline = asyncio.get_running_loop().time() + seconds
        while not stop.exists() and asyncio.get_running_loop().time() < deadline:
            _report(result, last, tasks)
            await asyncio.sleep(0.5)
        _report(result, last, tasks)
    finally:
        for task in tasks:
            task.cancel()
        for channel in opened:
            await channel.close()


def _report(result: Path, last: list[str], tasks: list[asyncio.Task[None]]) -> None:
    # Written beside and renamed, so the driver never reads half a report.
    temporary = result.with_suffix(".tmp")
    temporary.write_text(json.dumps({"versions": last, "errors": _errors(tasks)}))
    temporary.rename(result)


def _errors(tasks: list[asyncio.Task[None]]) -> list[str]:
    return [repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()]


if __name__ == "__main__":
    port, streams, channels, seconds = (int(a) for a in sys.argv[1:5])
    asyncio.run(main(port, streams, channels, seconds, Path(sys.argv[5])))
