"""The floor: the same clusters built, packed and serialized with raw protobuf calls only.

No xdscp code runs here (it reads only the type URLs). `clusters` is the issue's floor (N
keepalive clusters in one CDS response); `with_endpoints` adds each cluster's
ClusterLoadAssignment in one EDS response, the like-for-like floor for a snapshot that also
holds endpoints. The listener and its routes are one message each and left out. The messages
equal xdscp's byte for byte (bench checks it).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from bench import fleet
from xdscp.resourcetypes import CLUSTER, ENDPOINT


def cluster(i: int) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=fleet.cluster_name(i),
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(
            eds_config=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.ApiVersion.V3,
            )
        ),
        connect_timeout=duration_pb2.Duration(seconds=5),
        metadata=base_pb2.Metadata(),
        upstream_connection_options=cluster_pb2.UpstreamConnectionOptions(
            tcp_keepalive=address_pb2.TcpKeepalive(
                keepalive_probes=wrappers_pb2.UInt32Value(value=3),
                keepalive_time=wrappers_pb2.UInt32Value(value=fleet.KEEPALIVE_TIME),
                keepalive_interval=wrappers_pb2.UInt32Value(value=5),
            )
        ),
    )


def load_assignment(i: int) -> endpoint_pb2.ClusterLoadAssignment:
    address = address_pb2.Address(
        socket_address=address_pb2.SocketAddress(
            address=fleet.endpoint_address(i), port_value=fleet.PORT
        )
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=fleet.cluster_name(i),
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=address),
                        health_status=health_check_pb2.HealthStatus.HEALTHY,
                    )
                ],
                # A locality weighs as many as its ready endpoints (translate/endpoints.py).
                load_balancing_weight=wrappers_pb2.UInt32Value(value=1),
            )
        ],
    )


def response(type_url: str, bodies: list[bytes]) -> bytes:
    packed = [any_pb2.Any(type_url=type_url, value=body) for body in bodies]
    message = discovery_pb2.DiscoveryResponse(version_info="1", resources=packed, type_url=type_url)
    serialized: bytes = message.SerializeToString(deterministic=True)
    return serialized


def clusters(n: int) -> list[bytes]:
    """N clusters built, serialized, packed into one CDS response; returns resource bodies."""
    bodies = [cluster(i).SerializeToString(deterministic=True) for i in range(n)]
    response(CLUSTER, bodies)
    return bodies


def with_endpoints(n: int) -> list[bytes]:
    """The clusters and their ClusterLoadAssignments, each type in one response."""
    bodies = clusters(n)
    endpoints = [load_assignment(i).SerializeToString(deterministic=True) for i in range(n)]
    response(ENDPOINT, endpoints)
    return bodies + endpoints
