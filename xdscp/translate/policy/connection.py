"""connectTimeout, perConnectionBufferLimitBytes and tcpKeepalive: the guide's settings."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from google.protobuf import wrappers_pb2

from xdscp.model.backendconfigpolicy import TcpKeepalive
from xdscp.model.duration import Duration
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_value
from xdscp.translate.policy.fragment import Fragment


def apply_connect_timeout(value: Duration, _: ClusterContext) -> Fragment:
    return Fragment(cluster_pb2.Cluster(connect_timeout=protos.duration(value)))


def apply_per_connection_buffer_limit_bytes(value: int, _: ClusterContext) -> Fragment:
    limit = wrappers_pb2.UInt32Value(value=value)
    return Fragment(cluster_pb2.Cluster(per_connection_buffer_limit_bytes=limit))


def apply_tcp_keepalive(value: TcpKeepalive, _: ClusterContext) -> Fragment:
    options = cluster_pb2.UpstreamConnectionOptions(tcp_keepalive=_tcp_keepalive(value))
    return Fragment(cluster_pb2.Cluster(upstream_connection_options=options))


def _tcp_keepalive(value: TcpKeepalive) -> address_pb2.TcpKeepalive:
    """Envoy counts keepalive time and interval in whole seconds: truncate, as kgateway does."""
    keepalive = address_pb2.TcpKeepalive()
    put_value(keepalive.keepalive_probes, value.keep_alive_probes)
    if value.keep_alive_time is not None:
        keepalive.keepalive_time.value = value.keep_alive_time.whole_seconds
    if value.keep_alive_interval is not None:
        keepalive.keepalive_interval.value = value.keep_alive_interval.whole_seconds
    return keepalive
