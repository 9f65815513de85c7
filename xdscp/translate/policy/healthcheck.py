"""healthCheck: one active health check, HTTP or gRPC, with no defaults of its own."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, health_check_pb2

from xdscp.model.policy.healthcheck import HealthCheck
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext

HealthCheckMessage = health_check_pb2.HealthCheck


def apply_health_check(
    value: HealthCheck, cluster: cluster_pb2.Cluster, context: ClusterContext
) -> None:
    if value.grpc is not None and not context.http2:
        # Envoy refuses such a cluster: "cluster must support HTTP/2 for gRPC healthchecking".
        context.warnings.append(
            f"ignored on {cluster.name}: gRPC health checks need HTTP/2, which it does not speak"
        )
        return
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
    cluster.health_checks.append(check)
