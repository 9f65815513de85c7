"""ClusterLoadAssignments from EndpointSlices: the ready addresses behind each Service port."""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from xdscp.model.service import EndpointSlice, ServicePort
from xdscp.translate import protos


def load_assignment(
    cluster_name: str, port: ServicePort, slices: Iterable[EndpointSlice]
) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoint ports are matched to the Service port by name, as kube-proxy does."""
    addresses: set[tuple[str, int]] = set()
    for endpoint_slice in slices:
        target = next((p.port for p in endpoint_slice.ports if (p.name or "") == port.name), None)
        if target is None:
            continue
        for endpoint in endpoint_slice.endpoints:
            if endpoint.ready:
                addresses.update((address, target) for address in endpoint.addresses)
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster_name)
    if addresses:
        cla.endpoints.append(
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(
                            address=protos.socket_address(address, target)
                        ),
                        health_status=health_check_pb2.HealthStatus.HEALTHY,
                    )
                    for address, target in sorted(addresses)
                ]
            )
        )
    return cla
