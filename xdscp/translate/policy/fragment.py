"""What one policy block contributes to a cluster, and the one function that combines them.

A step sees its block and what it may know of the cluster (ClusterContext), never the cluster
itself, and returns a Fragment. `merge` combines fragments by explicit rules, whatever their
order:

- cluster fields: a field a fragment sets replaces the cluster's (each field has one block);
- HTTP protocol options: merged into the cluster's one HttpProtocolOptions extension, which
  several blocks share;
- the transport socket: layers nest by depth, innermost first. TLS is the socket; PROXY
  protocol wraps whatever is inside it (a raw_buffer socket when there is no TLS).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TypeAlias

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf.message import Message

from xdscp.translate import protos
from xdscp.translate.policy.httpoptions import mutate_http_options

RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"
HttpOptions: TypeAlias = http_protocol_options_pb2.HttpProtocolOptions


class Depth(IntEnum):
    SOCKET = 0  # the socket itself: TLS
    WRAPPER = 1  # around the socket inside it: PROXY protocol


@dataclass(frozen=True)
class SocketLayer:
    depth: Depth
    name: str  # the transport socket's extension name
    config: Message
    inner: str = ""  # for a wrapper, the field of `config` that holds the socket it wraps


class Rule(StrEnum):
    """Why part of a block does not apply to a cluster."""

    UNSUPPORTED = "Unsupported"  # xdscp does not implement it
    PROTOCOL_MISMATCH = "ProtocolMismatch"  # options for a protocol the upstream does not speak
    NEEDS_HTTP2 = "NeedsHTTP2"
    NEEDS_DNS = "NeedsDNS"  # only DNS-resolved Backends have it
    SECRET = "SecretUnusable"  # the Secret it names is missing or bad (its last good one is kept)


@dataclass(frozen=True)
class Ignored:
    """A part of a block not applied to this cluster, as data; the status words it."""

    rule: Rule
    message: str


@dataclass(frozen=True)
class Fragment:
    cluster: cluster_pb2.Cluster | None = None  # the fields it sets
    http_options: HttpOptions | None = None
    socket: SocketLayer | None = None
    ignored: tuple[Ignored, ...] = ()


def ignore(rule: Rule, message: str) -> Fragment:
    """A block that does not apply at all."""
    return Fragment(ignored=(Ignored(rule, message),))


def merge(cluster: cluster_pb2.Cluster, fragments: Iterable[Fragment]) -> None:
    http_options: list[HttpOptions] = []
    layers: list[SocketLayer] = []
    for fragment in fragments:
        if fragment.cluster is not None:
            for field, _ in fragment.cluster.ListFields():
                cluster.ClearField(field.name)
            cluster.MergeFrom(fragment.cluster)
        if fragment.http_options is not None:
            http_options.append(fragment.http_options)
        if fragment.socket is not None:
            layers.append(fragment.socket)
    if http_options:

        def add(options: HttpOptions) -> None:
            for part in http_options:
                options.MergeFrom(part)

        mutate_http_options(cluster, add)
    socket = _nest(layers)
    if socket is not None:
        cluster.transport_socket.CopyFrom(socket)


def _nest(layers: list[SocketLayer]) -> base_pb2.TransportSocket | None:
    socket: base_pb2.TransportSocket | None = None
    for layer in sorted(layers, key=lambda layer: layer.depth):
        config = layer.config
        if layer.inner:
            config = type(config)()
            config.CopyFrom(layer.config)
            inner = socket or base_pb2.TransportSocket(
                name=RAW_BUFFER_SOCKET, typed_config=protos.pack(raw_buffer_pb2.RawBuffer())
            )
            getattr(config, layer.inner).CopyFrom(inner)
        socket = base_pb2.TransportSocket(name=layer.name, typed_config=protos.pack(config))
    return socket
