"""connectTimeout, perConnectionBufferLimitBytes and tcpKeepalive: the guide's settings."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2

from xdscp.model.backendconfigpolicy import TcpKeepalive
from xdscp.model.duration import Duration
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_value


def apply_connect_timeout(value: Duration, cluster: cluster_pb2.Cluster, _: ClusterContext) -> None:
    cluster.connect_timeout.CopyFrom(protos.duration(value))


def apply_per_connection_buffer_limit_bytes(
    value: int, cluster: cluster_pb2.Cluster, _: ClusterContext
) -> None:
    cluster.per_connection_buffer_limit_bytes.value = value


def apply_tcp_keepalive(
    value: TcpKeepalive, cluster: cluster_pb2.Cluster, _: ClusterContext
) -> None:
    cluster.upstream_connection_options.tcp_keepalive.CopyFrom(_tcp_keepalive(value))


def _tcp_keepalive(value: TcpKeepalive) -> address_pb2.TcpKeepalive:
    """Envoy counts keepalive time and interval in whole seconds: truncate, as kgateway does."""
    keepalive = address_pb2.TcpKeepalive()
    put_value(keepalive.keepalive_probes, value.keep_alive_probes)
    if value.keep_alive_time is not None:
        keepalive.keepalive_time.value = value.keep_alive_time.whole_seconds
    if value.keep_alive_interval is not None:
        keepalive.keepalive_interval.value = value.keep_alive_interval.whole_seconds
    return keepalive
