"""The APPLY table and the fragment merge: one step per configuring spec field, each returning
a fragment; layering and sharing are the merge's rules, not the table's order."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2

from xdscp.model.backendconfigpolicy import BackendConfigPolicySpec
from xdscp.model.policy.spec import TARGETING
from xdscp.translate.clusters import DEFAULT_CONNECT_TIMEOUT_SECONDS
from xdscp.translate.policy import APPLY, ClusterContext
from xdscp.translate.policy.fragment import Fragment, Ignored, Rule, merge
from xdscp.translate.policy.httpoptions import mutate_http_options, set_http2
from xdscp.translate.policy.proxyprotocol import PROXY_PROTOCOL_SOCKET
from xdscp.translate.policy.tls import TLS_SOCKET

HTTP1 = ClusterContext("c")
HTTP2 = ClusterContext("c", http2=True)


def fragments(spec: dict[str, Any], context: ClusterContext = HTTP1) -> dict[str, Fragment]:
    """Each block of `spec` (camelCase, as in YAML) through its step, by snake_case field."""
    model = BackendConfigPolicySpec.model_validate(spec)
    return {
        field: APPLY[field](getattr(model, field), context)
        for field in APPLY
        if getattr(model, field) is not None
    }


def test_every_configuring_field_has_one_step() -> None:
    assert set(APPLY) == set(BackendConfigPolicySpec.model_fields) - TARGETING


def test_proxy_protocol_wraps_tls_in_whichever_order_they_come() -> None:
    parts = fragments({"upstreamProxyProtocol": {"version": "V2"}, "tls": {"sni": "a.example"}})
    for order in (["tls", "upstream_proxy_protocol"], ["upstream_proxy_protocol", "tls"]):
        cluster = cluster_pb2.Cluster(name="c")
        merge(cluster, [parts[name] for name in order])
        assert cluster.transport_socket.name == PROXY_PROTOCOL_SOCKET
        wrapper = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport()
        cluster.transport_socket.typed_config.Unpack(wrapper)
        assert wrapper.transport_socket.name == TLS_SOCKET


def test_proxy_protocol_alone_wraps_a_raw_buffer() -> None:
    cluster = cluster_pb2.Cluster(name="c")
    merge(cluster, fragments({"upstreamProxyProtocol": {"version": "V1"}}).values())
    wrapper = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport()
    cluster.transport_socket.typed_config.Unpack(wrapper)
    assert wrapper.transport_socket.name == "envoy.transport_sockets.raw_buffer"


def test_a_field_a_fragment_sets_replaces_the_clusters() -> None:
    cluster = cluster_pb2.Cluster(name="c")
    cluster.connect_timeout.seconds = DEFAULT_CONNECT_TIMEOUT_SECONDS
    merge(cluster, fragments({"connectTimeout": "500ms"}).values())
    assert (cluster.connect_timeout.seconds, cluster.connect_timeout.nanos) == (0, 500_000_000)


def test_http_options_keep_what_the_cluster_and_other_blocks_set() -> None:
    cluster = cluster_pb2.Cluster(name="c")
    mutate_http_options(cluster, set_http2)
    spec = {
        "commonHttpProtocolOptions": {"idleTimeout": "1s"},
        "http2ProtocolOptions": {"maxConcurrentStreams": 7},
    }
    merge(cluster, fragments(spec, HTTP2).values())

    def check(options: Any) -> None:
        assert options.explicit_http_config.http2_protocol_options.max_concurrent_streams.value == 7
        assert options.common_http_protocol_options.idle_timeout.seconds == 1

    mutate_http_options(cluster, check)


def test_a_part_that_does_not_apply_is_data_with_a_rule() -> None:
    parts = fragments({"http1ProtocolOptions": {"enableTrailers": True}}, HTTP2)
    (ignored,) = parts["http1_protocol_options"].ignored
    assert ignored == Ignored(Rule.PROTOCOL_MISMATCH, "ignored on c: it speaks HTTP/2")
    cluster = cluster_pb2.Cluster(name="c")
    merge(cluster, parts.values())
    assert cluster == cluster_pb2.Cluster(name="c")  # nothing of it applied
