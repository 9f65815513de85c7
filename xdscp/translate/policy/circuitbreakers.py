"""circuitBreakers: one threshold, for the default priority."""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2

from xdscp.model.policy.circuitbreakers import CircuitBreakers
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_value
from xdscp.translate.policy.fragment import Fragment


def apply_circuit_breakers(value: CircuitBreakers, _: ClusterContext) -> Fragment:
    threshold = circuit_breaker_pb2.CircuitBreakers.Thresholds()  # priority DEFAULT is 0
    put_value(threshold.max_connections, value.max_connections)
    put_value(threshold.max_pending_requests, value.max_pending_requests)
    put_value(threshold.max_requests, value.max_requests)
    put_value(threshold.max_retries, value.max_retries)
    if value.track_remaining is not None:
        threshold.track_remaining = value.track_remaining
    breakers = circuit_breaker_pb2.CircuitBreakers(thresholds=[threshold])
    return Fragment(cluster_pb2.Cluster(circuit_breakers=breakers))
