"""Many ADS streams from one process: half state of the world, half delta, each ACKing every
response and keeping the last CDS version it got, and when it got it. Loopback only, bounded
in time.

Of each response only the envelope is read (version and nonce), as cheaply as protobuf can:
one process stands in for a thousand Envoys, each of which has its own core to parse with.

    python -m tests.soak.loadgen PORT STREAMS CHANNELS SECONDS RESULT_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from xdscp.resourcetypes import CLUSTER as CDS

SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"


def _envelope() -> Any:
    """A message reading only a (Delta)DiscoveryResponse's version (field 1 of both) and nonce
    (5): ten times quicker than the whole response of 10,000 clusters."""
    fields = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="soak_envelope.proto", package="soak")
    message = file.message_type.add(name="Envelope")
    for name, number in (("version", 1), ("nonce", 5)):
        message.field.add(
            name=name, number=number, type=fields.TYPE_STRING, label=fields.LABEL_OPTIONAL
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("soak.Envelope"))


ENVELOPE = _envelope()


@dataclass(frozen=True)
class Variant:
    """What differs between the two ADS variants: the method, the request type, and what an
    ACK holds besides the nonce."""

    name: str  # as xdscp's /status names it
    method: str
    request: Callable[..., Any]
    acks_version: bool

    def call(self, channel: grpc.aio.Channel) -> Any:
        method = channel.stream_stream(
            SERVICE + self.method,
            request_serializer=self.request.SerializeToString,  # type: ignore[attr-defined]
            response_deserializer=ENVELOPE.FromString,
        )
        return method()


SOTW = Variant("sotw", "StreamAggregatedResources", discovery_pb2.DiscoveryRequest, True)
DELTA = Variant("delta", "DeltaAggregatedResources", discovery_pb2.DeltaDiscoveryRequest, False)


def variant_of(stream: int) -> Variant:
    return SOTW if stream % 2 == 0 else DELTA


async def subscribe(
    variant: Variant,
    channel: grpc.aio.Channel,
    index: int,
    last: list[str],
    received_at: list[float],
) -> None:
    """Subscribes to every cluster, ACKs every response and keeps the last version in `last`,
    and when it came (the wall clock) in `received_at`."""
    call = variant.call(channel)
    request = variant.request(type_url=CDS)
    request.node.CopyFrom(base_pb2.Node(id=f"soak-{index}", cluster="soak"))
    await call.write(request)
    async for response in call:
        if response.version != last[index]:
            last[index], received_at[index] = response.version, time.time()
        ack = variant.request(type_url=CDS, response_nonce=response.nonce)
        if variant.acks_version:
            ack.version_info = response.version
        await call.write(ack)


async def main(port: int, streams: int, channels: int, seconds: float, result: Path) -> None:
    last = [""] * streams
    received_at = [0.0] * streams
    opened = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    tasks = [
        asyncio.create_task(subscribe(variant_of(i), opened[i % channels], i, last, received_at))
        for i in range(streams)
    ]
    try:
        # Run until told to stop (the result file's `.stop` twin appears) or the time is up.
        stop = result.with_suffix(".stop")
        deadline = asyncio.get_running_loop().time() + seconds
        while not stop.exists() and asyncio.get_running_loop().time() < deadline:
            _report(result, last, received_at, tasks)
            await asyncio.sleep(0.5)
        _report(result, last, received_at, tasks)
    finally:
        for task in tasks:
            task.cancel()
        for channel in opened:
            await channel.close()


def _report(
    result: Path, last: list[str], received_at: list[float], tasks: list[asyncio.Task[None]]
) -> None:
    # Written beside and renamed, so the driver never reads half a report.
    report = {"versions": last, "received_at": received_at, "errors": _errors(tasks)}
    temporary = result.with_suffix(".tmp")
    temporary.write_text(json.dumps(report))
    temporary.rename(result)


def _errors(tasks: list[asyncio.Task[None]]) -> list[str]:
    return [repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()]


if __name__ == "__main__":
    port, streams, channels, seconds = (int(a) for a in sys.argv[1:5])
    asyncio.run(main(port, streams, channels, seconds, Path(sys.argv[5])))
