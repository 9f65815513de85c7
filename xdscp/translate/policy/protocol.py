"""commonHttpProtocolOptions, http1ProtocolOptions and http2ProtocolOptions.

All three land in the cluster's HttpProtocolOptions extension. The Service port decides the
protocol: options for the other protocol are ignored with a warning, as kgateway does.
"""

from __future__ import annotations

from envoy.config.core.v3 import protocol_pb2
from envoy.extensions.http.header_formatters.preserve_case.v3 import preserve_case_pb2

from xdscp.model.policy.protocol import (
    CommonHttpProtocolOptions,
    ConnectionKeepalive,
    Http1ProtocolOptions,
    Http2ProtocolOptions,
)
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_duration, put_value
from xdscp.translate.policy.fragment import Fragment, HttpOptions, Rule, ignore

PRESERVE_CASE = "envoy.http.stateful_header_formatters.preserve_case"


def apply_common_http_protocol_options(
    value: CommonHttpProtocolOptions, context: ClusterContext
) -> Fragment:
    options = HttpOptions()
    common = options.common_http_protocol_options
    common.SetInParent()
    put_duration(common.idle_timeout, value.idle_timeout)
    put_duration(common.max_connection_duration, value.max_connection_duration)
    put_value(common.max_headers_count, value.max_headers_count)
    put_duration(common.max_stream_duration, value.max_stream_duration)
    put_value(common.max_requests_per_connection, value.max_requests_per_connection)
    # Envoy wants an upstream protocol beside common options; an HTTP/2 port has one already.
    if not context.http2:
        options.explicit_http_config.http_protocol_options.SetInParent()
    return Fragment(http_options=options)


def apply_http1_protocol_options(value: Http1ProtocolOptions, context: ClusterContext) -> Fragment:
    if context.http2:
        return ignore(Rule.PROTOCOL_MISMATCH, f"ignored on {context.cluster}: it speaks HTTP/2")
    options = HttpOptions()
    http1 = options.explicit_http_config.http_protocol_options
    http1.SetInParent()
    if value.enable_trailers is not None:
        http1.enable_trailers = value.enable_trailers
    put_value(
        http1.override_stream_error_on_invalid_http_message,
        value.override_stream_error_on_invalid_http_message,
    )
    if value.preserve_http1_header_case:
        formatter = http1.header_key_format.stateful_formatter
        formatter.name = PRESERVE_CASE
        formatter.typed_config.CopyFrom(
            protos.pack(preserve_case_pb2.PreserveCaseFormatterConfig())
        )
    return Fragment(http_options=options)


def apply_http2_protocol_options(value: Http2ProtocolOptions, context: ClusterContext) -> Fragment:
    if not context.http2:
        return ignore(
            Rule.PROTOCOL_MISMATCH, f"ignored on {context.cluster}: it does not speak HTTP/2"
        )
    options = HttpOptions()
    http2 = options.explicit_http_config.http2_protocol_options
    http2.SetInParent()
    put_value(http2.max_concurrent_streams, value.max_concurrent_streams)
    put_value(http2.initial_stream_window_size, value.initial_stream_window_size)
    put_value(http2.initial_connection_window_size, value.initial_connection_window_size)
    put_value(
        http2.override_stream_error_on_invalid_http_message,
        value.override_stream_error_on_invalid_http_message,
    )
    if value.connection_keepalive is not None:
        http2.connection_keepalive.CopyFrom(_keepalive(value.connection_keepalive))
    return Fragment(http_options=options)


def _keepalive(value: ConnectionKeepalive) -> protocol_pb2.KeepaliveSettings:
    keepalive = protocol_pb2.KeepaliveSettings(timeout=protos.duration(value.timeout))
    put_duration(keepalive.interval, value.interval)
    put_duration(keepalive.connection_idle_interval, value.connection_idle_interval)
    return keepalive
