"""BackendConfigPolicy blocks to Envoy cluster fields: one apply step per spec block.

The table is the one place that lists them; adding a policy field is a model class, an
apply step and a row here. Each step returns a Fragment; fragment.merge combines them by
explicit rules (PROXY protocol around TLS, the shared HTTP options merged), in any order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xdscp.translate.policy.circuitbreakers import apply_circuit_breakers
from xdscp.translate.policy.connection import (
    apply_connect_timeout,
    apply_per_connection_buffer_limit_bytes,
    apply_tcp_keepalive,
)
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.dns import apply_dns
from xdscp.translate.policy.fragment import Fragment
from xdscp.translate.policy.healthcheck import apply_health_check
from xdscp.translate.policy.loadbalancer import apply_load_balancer
from xdscp.translate.policy.outlier import apply_outlier_detection
from xdscp.translate.policy.protocol import (
    apply_common_http_protocol_options,
    apply_http1_protocol_options,
    apply_http2_protocol_options,
)
from xdscp.translate.policy.proxyprotocol import apply_upstream_proxy_protocol
from xdscp.translate.policy.tls import apply_tls

Apply = Callable[[Any, ClusterContext], Fragment]

# spec field (snake_case, as in the model) -> its apply step.
APPLY: dict[str, Apply] = {
    "connect_timeout": apply_connect_timeout,
    "per_connection_buffer_limit_bytes": apply_per_connection_buffer_limit_bytes,
    "tcp_keepalive": apply_tcp_keepalive,
    "common_http_protocol_options": apply_common_http_protocol_options,
    "http1_protocol_options": apply_http1_protocol_options,
    "http2_protocol_options": apply_http2_protocol_options,
    "tls": apply_tls,
    "upstream_proxy_protocol": apply_upstream_proxy_protocol,
    "load_balancer": apply_load_balancer,
    "health_check": apply_health_check,
    "outlier_detection": apply_outlier_detection,
    "circuit_breakers": apply_circuit_breakers,
    "dns": apply_dns,
}

__all__ = ["APPLY", "Apply", "ClusterContext"]
