"""BackendConfigPolicySpec: the targets, and one optional field per configured block."""

from __future__ import annotations

from typing import Annotated

from xdscp.model.duration import DurationField, envoy_positive
from xdscp.model.policy.circuitbreakers import CircuitBreakers
from xdscp.model.policy.connection import TcpKeepalive
from xdscp.model.policy.dns import Dns
from xdscp.model.policy.healthcheck import HealthCheck
from xdscp.model.policy.loadbalancer import LoadBalancer
from xdscp.model.policy.outlier import OutlierDetection
from xdscp.model.policy.protocol import (
    CommonHttpProtocolOptions,
    Http1ProtocolOptions,
    Http2ProtocolOptions,
)
from xdscp.model.policy.proxyprotocol import UpstreamProxyProtocol
from xdscp.model.policy.rules import Block, at_most_one
from xdscp.model.policy.targets import TargetRefs, TargetSelectors
from xdscp.model.policy.tls import TLS
from xdscp.model.types import NonNegInt32

# The fields that choose targets; every other field configures them (and takes part in merging).
TARGETING = frozenset({"target_refs", "target_selectors"})


class BackendConfigPolicySpec(Block):
    RULES = (at_most_one("http1ProtocolOptions", "http2ProtocolOptions"),)

    target_refs: TargetRefs | None = None
    target_selectors: TargetSelectors | None = None
    connect_timeout: Annotated[DurationField, envoy_positive] | None = None
    per_connection_buffer_limit_bytes: NonNegInt32 | None = None
    tcp_keepalive: TcpKeepalive | None = None
    common_http_protocol_options: CommonHttpProtocolOptions | None = None
    http1_protocol_options: Http1ProtocolOptions | None = None
    http2_protocol_options: Http2ProtocolOptions | None = None
    tls: TLS | None = None
    load_balancer: LoadBalancer | None = None
    health_check: HealthCheck | None = None
    outlier_detection: OutlierDetection | None = None
    circuit_breakers: CircuitBreakers | None = None
    upstream_proxy_protocol: UpstreamProxyProtocol | None = None
    dns: Dns | None = None
