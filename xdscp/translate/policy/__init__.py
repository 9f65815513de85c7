"""BackendConfigPolicy blocks to Envoy cluster fields: one apply step per spec block.

The table is the one place that lists them; adding a policy field is a model class, an
apply step and a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2

from xdscp.translate.policy.connection import (
    apply_connect_timeout,
    apply_per_connection_buffer_limit_bytes,
    apply_tcp_keepalive,
)
from xdscp.translate.policy.context import ClusterContext

Apply = Callable[[Any, cluster_pb2.Cluster, ClusterContext], None]

# spec field (snake_case, as in the model) -> its apply step, in the order they are applied.
APPLY: dict[str, Apply] = {
    "connect_timeout": apply_connect_timeout,
    "per_connection_buffer_limit_bytes": apply_per_connection_buffer_limit_bytes,
    "tcp_keepalive": apply_tcp_keepalive,
}

__all__ = ["APPLY", "Apply", "ClusterContext"]
