"""What a server sends, fetched as Envoy fetches it and hashed the same way for every server.

Protobuf's deterministic serialization is stable within one implementation only (Go writes
oneof fields last, upb in field-number order), so each resource received is parsed and
serialized again here, nested Any messages included, before hashing: equal hashes mean equal
messages.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401 (in the pool)
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2, descriptor_pool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, ROUTE, SHORT_NAMES

MESSAGES: dict[str, Any] = {
    CLUSTER: cluster_pb2.Cluster,
    ENDPOINT: endpoint_pb2.ClusterLoadAssignment,
    LISTENER: listener_pb2.Listener,
    ROUTE: route_pb2.RouteConfiguration,
}
TIMEOUT = 60
Hashes = dict[str, dict[str, str]]


def fetch(port: int) -> Hashes:
    """{type: {name: sha256}} of every resource the server at `port` sends a new client."""
    return asyncio.run(asyncio.wait_for(_fetch(port), TIMEOUT))


async def _fetch(port: int) -> Hashes:
    requests: asyncio.Queue[discovery_pb2.DiscoveryRequest] = asyncio.Queue()

    async def outgoing() -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        while True:
            yield await requests.get()

    def ask(type_url: str, names: list[str] = (), **answer: str) -> None:  # type: ignore[assignment]
        requests.put_nowait(
            discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                resource_names=names,
                node=base_pb2.Node(id="bench-wire-check"),
                **answer,
            )
        )

    out: Hashes = {}
    options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(
            outgoing()
        )
        ask(CLUSTER)
        ask(LISTENER)
        async for response in call:
            table = _hashes(response)
            out[SHORT_NAMES[response.type_url]] = table
            ask(
                response.type_url, version_info=response.version_info, response_nonce=response.nonce
            )
            if response.type_url == CLUSTER:
                ask(ENDPOINT, sorted(table))
            elif response.type_url == LISTENER:
                ask(ROUTE, [r for r in _route_names(response)])
            if len(out) == len(MESSAGES):
                call.cancel()
                break
    return out


def _hashes(response: discovery_pb2.DiscoveryResponse) -> dict[str, str]:
    table = {}
    for packed in response.resources:
        message = MESSAGES[response.type_url].FromString(packed.value)
        name = message.cluster_name if response.type_url == ENDPOINT else message.name
        table[name] = hashlib.sha256(canonical(message)).hexdigest()
    return table


def canonical(message: Message) -> bytes:
    """The message's deterministic serialization by upb, with every nested Any re-packed so."""
    copy = type(message)()
    copy.CopyFrom(message)
    _repack(copy)
    return copy.SerializeToString(deterministic=True)


def _repack(message: Message) -> None:
    if message.DESCRIPTOR.full_name == "google.protobuf.Any":
        assert isinstance(message, any_pb2.Any)
        name = message.type_url.rsplit("/", 1)[-1]
        inner = GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name))()
        inner.ParseFromString(message.value)
        message.value = canonical(inner)
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = (
                list(value.values())
                if field.message_type.fields_by_name["value"].message_type
                else []
            )
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for item in values:
            _repack(item)


def _route_names(response: discovery_pb2.DiscoveryResponse) -> list[str]:
    names = []
    for packed in response.resources:
        listener = listener_pb2.Listener.FromString(packed.value)
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                names.append(manager.rds.route_config_name)
    return sorted(names)


def compare(ours: Hashes, theirs: Hashes) -> dict[str, Any]:
    """Counts per type, and the names whose messages differ (at most a few)."""
    differ = sorted(
        f"{t}/{name}"
        for t in ours.keys() | theirs.keys()
        for name in ours.get(t, {}).keys() | theirs.get(t, {}).keys()
        if ours.get(t, {}).get(name) != theirs.get(t, {}).get(name)
    )
    return {
        "same": not differ,
        "resources": {t: len(v) for t, v in sorted(ours.items())},
        "differ": differ[:5],
    }
