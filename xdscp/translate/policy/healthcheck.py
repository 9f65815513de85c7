"""healthCheck: one active health check, HTTP or gRPC, with no defaults of its own."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, health_check_pb2

from xdscp.model.policy.healthcheck import HealthCheck
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fragment import Fragment, Rule, ignore

HealthCheckMessage = health_check_pb2.HealthCheck


def apply_health_check(value: HealthCheck, context: ClusterContext) -> Fragment:
    if value.grpc is not None and not context.http2:
        # Envoy refuses such a cluster: "cluster must support HTTP/2 for gRPC healthchecking".
        return ignore(
            Rule.NEEDS_HTTP2,
            f"ignored on {context.cluster}: gRPC health checks need HTTP/2,"
            " which it does not speak",
        )
    check = HealthCheckMessage(
        timeout=protos.duration(value.timeout),
        interval=protos.duration(value.interval),
    )
    check.unhealthy_threshold.value = value.unhealthy_threshold
    check.healthy_threshold.value = value.healthy_threshold
    if value.http is not None:
        check.http_health_check.CopyFrom(
            HealthCheckMessage.HttpHealthCheck(
                path=value.http.path,
                host=value.http.host or "",
                method=base_pb2.RequestMethod.Value(value.http.method or "METHOD_UNSPECIFIED"),
            )
        )
    elif value.grpc is not None:
        check.grpc_health_check.CopyFrom(
            HealthCheckMessage.GrpcHealthCheck(
                service_name=value.grpc.service_name or "", authority=value.grpc.authority or ""
            )
        )
    return Fragment(cluster_pb2.Cluster(health_checks=[check]))
