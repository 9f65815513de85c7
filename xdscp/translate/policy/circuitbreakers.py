"""circuitBreakers: one threshold, for the default priority."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2

from xdscp.model.policy.circuitbreakers import CircuitBreakers
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_value


def apply_circuit_breakers(
    value: CircuitBreakers, cluster: cluster_pb2.Cluster, _: ClusterContext
) -> None:
    threshold = cluster.circuit_breakers.thresholds.add()  # priority DEFAULT is enum value 0
    put_value(threshold.max_connections, value.max_connections)
    put_value(threshold.max_pending_requests, value.max_pending_requests)
    put_value(threshold.max_requests, value.max_requests)
    put_value(threshold.max_retries, value.max_retries)
    if value.track_remaining is not None:
        threshold.track_remaining = value.track_remaining
