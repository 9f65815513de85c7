"""upstreamProxyProtocol: a PROXY protocol transport socket around whatever socket is there
(TLS, else a raw buffer): a wrapper layer, which merge nests outside the socket layer."""

from __future__ import annotations

from envoy.config.core.v3 import proxy_protocol_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2

from xdscp.model.policy.proxyprotocol import UpstreamProxyProtocol
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fragment import Depth, Fragment, SocketLayer

PROXY_PROTOCOL_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol"


def apply_upstream_proxy_protocol(value: UpstreamProxyProtocol, _: ClusterContext) -> Fragment:
    wrapper = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport(
        config=proxy_protocol_pb2.ProxyProtocolConfig(
            version=proxy_protocol_pb2.ProxyProtocolConfig.Version.Value(value.version)
        ),
    )
    return Fragment(
        socket=SocketLayer(Depth.WRAPPER, PROXY_PROTOCOL_SOCKET, wrapper, inner="transport_socket")
    )
