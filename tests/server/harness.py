"""A scripted ADS client against the real grpc.aio server, in process, for protocol edge cases.

To show the server said nothing, a test sends a request that must be answered (a new type)
and checks that this answer is the next message: no timing windows, no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf.message import Message

from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.server.admission import Limits
from xdscp.server.ads import AdsServicer, start_server
from xdscp.server.fleet import Fleet
from xdscp.snapshot import Snapshot
from xdscp.translate import Translation
from xdscp.translate.protos import encode
from xdscp.translate.translation import tables

RECV_TIMEOUT = 10


def snapshot(clusters: dict[str, int], previous: Snapshot | None = None) -> Snapshot:
    """Clusters named by key with connect_timeout = value seconds, each with a CLA, one listener."""
    resources: dict[str, dict[str, Message]] = {CDS: {}, EDS: {}}
    for name, timeout in clusters.items():
        cluster = cluster_pb2.Cluster(name=name)
        cluster.connect_timeout.seconds = timeout
        resources[CDS][name] = cluster
        resources[EDS][name] = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    resources[LDS] = {"l": listener_pb2.Listener(name="l")}
    return Snapshot.build(translation(resources), previous)


def translation(resources: Mapping[str, Mapping[str, Message]]) -> Translation:
    """A translation made by hand: these messages (by type URL, then name) and nothing else."""
    encoded = {url: {n: encode(m) for n, m in table.items()} for url, table in resources.items()}
    return Translation({**tables(), **encoded})


class Server:
    def __init__(self, cache: SnapshotCache, fleet: Fleet, metrics: Metrics, port: int) -> None:
        self.cache, self.fleet, self.metrics, self.port = cache, fleet, metrics, port


@asynccontextmanager
async def serving(initial: Snapshot | None, limits: Limits | None = None) -> AsyncIterator[Server]:
    cache, fleet, metrics = SnapshotCache(), Fleet(), Metrics()
    if initial is not None:
        cache.set(initial)
    servicer = AdsServicer(cache, fleet, metrics, limits)
    server, port = await start_server(servicer, "127.0.0.1:0")
    try:
        yield Server(cache, fleet, metrics, port)
    finally:
        await server.stop(grace=None)


class Stream:
    """One ADS stream: `send` requests, `recv` the next response (or fail after a deadline)."""

    def __init__(self, call: Any) -> None:
        self.call = call

    async def send(self, request: Any) -> None:
        await self.call.write(request)

    async def recv(self) -> Any:
        response = await asyncio.wait_for(self.call.read(), RECV_TIMEOUT)
        assert response is not grpc.aio.EOF, "stream ended"
        return response

    async def ended(self) -> grpc.StatusCode:
        """The status the server ended the stream with (reading past what it sent before)."""
        try:
            while await asyncio.wait_for(self.call.read(), RECV_TIMEOUT) is not grpc.aio.EOF:
                pass
        except grpc.aio.AioRpcError as err:
            return err.code()
        code: grpc.StatusCode = await self.call.code()
        return code


@asynccontextmanager
async def stream(port: int, delta: bool = False) -> AsyncIterator[Stream]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call = stub.DeltaAggregatedResources() if delta else stub.StreamAggregatedResources()
        try:
            yield Stream(call)
        finally:
            call.cancel()


def node(node_id: str = "node-1") -> base_pb2.Node:
    return base_pb2.Node(id=node_id, cluster="test")


def sotw(
    type_url: str,
    names: list[str] | None = None,
    version: str = "",
    nonce: str = "",
    error: str | None = None,
    with_node: bool = False,
) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, resource_names=names or [], version_info=version, response_nonce=nonce
    )
    if error is not None:
        request.error_detail.message = error
        request.error_detail.code = 3
    if with_node:
        request.node.CopyFrom(node())
    return request


def delta(
    type_url: str,
    subscribe: list[str] | None = None,
    unsubscribe: list[str] | None = None,
    nonce: str = "",
    initial: dict[str, str] | None = None,
    error: str | None = None,
    with_node: bool = False,
) -> discovery_pb2.DeltaDiscoveryRequest:
    request = discovery_pb2.DeltaDiscoveryRequest(
        type_url=type_url,
        resource_names_subscribe=subscribe or [],
        resource_names_unsubscribe=unsubscribe or [],
        response_nonce=nonce,
        initial_resource_versions=initial or {},
    )
    if error is not None:
        request.error_detail.message = error
    if with_node:
        request.node.CopyFrom(node())
    return request


def names_of(response: Any, message: type) -> list[str]:
    """The names of the resources in a SotW or delta response."""
    out = []
    for item in response.resources:
        packed = item.resource if hasattr(item, "resource") else item
        decoded = message()
        packed.Unpack(decoded)
        out.append(decoded.cluster_name if hasattr(decoded, "cluster_name") else decoded.name)
    return out


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())
