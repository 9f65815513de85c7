"""Malformed, oversized and unknown xDS requests: refused cleanly, other streams unharmed."""

from __future__ import annotations

import asyncio

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2

from tests.server.harness import names_of, run, snapshot, sotw, stream
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.server.ads import SERVICE, AdsServicer, start_server
from xdscp.server.fleet import Fleet

LIMIT = 64 * 1024


async def raw_call(port: int, payload: bytes) -> grpc.StatusCode:
    """Send bytes that are no DiscoveryRequest (or too many of them) and read the outcome."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            f"/{SERVICE}/StreamAggregatedResources",
            request_serializer=lambda b: b,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )()
        await call.write(payload)
        try:
            await asyncio.wait_for(call.read(), 10)
        except grpc.aio.AioRpcError as err:
            return err.code()
        raise AssertionError("a malformed request was answered")


def test_garbage_and_oversized_requests_end_only_their_own_stream() -> None:
    async def scenario() -> None:
        cache = SnapshotCache()
        cache.set(snapshot({"a": 1}))
        servicer = AdsServicer(cache, Fleet(), Metrics())
        server, port = await start_server(servicer, "127.0.0.1:0", max_message_bytes=LIMIT)
        try:
            async with stream(port) as healthy:
                await healthy.send(sotw(CDS, with_node=True))
                first = await healthy.recv()
                garbage = await raw_call(port, b"\xff\xfe not a protobuf \x00\x01")
                assert garbage != grpc.StatusCode.OK
                oversized = discovery_pb2.DiscoveryRequest(
                    type_url=CDS, resource_names=["x" * 100] * 1000
                ).SerializeToString()
                assert len(oversized) > LIMIT
                assert await raw_call(port, oversized) == grpc.StatusCode.RESOURCE_EXHAUSTED
                # The well-behaved stream is still served.
                await healthy.send(sotw(CDS, version=first.version_info, nonce=first.nonce))
                cache.set(snapshot({"a": 1, "b": 1}))
                assert names_of(await healthy.recv(), cluster_pb2.Cluster) == ["a", "b"]
        finally:
            await server.stop(grace=None)

    run(scenario)
