"""commonHttpProtocolOptions, http1ProtocolOptions and http2ProtocolOptions: upstream HTTP."""

from __future__ import annotations

from typing import Annotated

from xdscp.model.duration import AtLeast1ms, DurationField
from xdscp.model.policy.quantity import WindowSize
from xdscp.model.policy.rules import Block, envoy_bounds
from xdscp.model.types import Bool, NonNegInt32, PositiveInt32


class CommonHttpProtocolOptions(Block):
    idle_timeout: DurationField | None = None
    max_connection_duration: DurationField | None = None
    max_headers_count: Annotated[NonNegInt32, envoy_bounds(low=1)] | None = None
    max_stream_duration: DurationField | None = None
    max_requests_per_connection: NonNegInt32 | None = None


class Http1ProtocolOptions(Block):
    enable_trailers: Bool | None = None
    preserve_http1_header_case: Bool | None = None
    override_stream_error_on_invalid_http_message: Bool | None = None


class ConnectionKeepalive(Block):
    """HTTP/2 PING keepalive."""

    timeout: AtLeast1ms
    interval: AtLeast1ms | None = None
    connection_idle_interval: AtLeast1ms | None = None


class Http2ProtocolOptions(Block):
    initial_stream_window_size: WindowSize | None = None
    initial_connection_window_size: WindowSize | None = None
    max_concurrent_streams: PositiveInt32 | None = None
    override_stream_error_on_invalid_http_message: Bool | None = None
    connection_keepalive: ConnectionKeepalive | None = None
