"""upstreamProxyProtocol: a PROXY protocol transport socket around whatever socket is there."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, proxy_protocol_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2

from xdscp.model.policy.proxyprotocol import UpstreamProxyProtocol
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext

PROXY_PROTOCOL_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol"
RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"


def apply_upstream_proxy_protocol(
    value: UpstreamProxyProtocol, cluster: cluster_pb2.Cluster, _: ClusterContext
) -> None:
    """Runs after tls (see APPLY), so a TLS socket ends up inside; Envoy needs an inner socket."""
    inner = base_pb2.TransportSocket(
        name=RAW_BUFFER_SOCKET, typed_config=protos.pack(raw_buffer_pb2.RawBuffer())
    )
    if cluster.HasField("transport_socket"):
        inner.CopyFrom(cluster.transport_socket)
    wrapper = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport(
        config=proxy_protocol_pb2.ProxyProtocolConfig(
            version=proxy_protocol_pb2.ProxyProtocolConfig.Version.Value(value.version)
        ),
        transport_socket=inner,
    )
    cluster.transport_socket.CopyFrom(
        base_pb2.TransportSocket(name=PROXY_PROTOCOL_SOCKET, typed_config=protos.pack(wrapper))
    )
