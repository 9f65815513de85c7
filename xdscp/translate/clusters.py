"""Clusters: one per Service port (endpoints by EDS) and one per static Backend."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from xdscp.model.backendconfigpolicy import Backend
from xdscp.model.service import Service, ServicePort
from xdscp.translate import names, protos
from xdscp.translate.attachment import Attachment, Target
from xdscp.translate.policy import APPLY, ClusterContext

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def service_clusters(service: Service) -> Iterator[tuple[ServicePort, cluster_pb2.Cluster]]:
    """Every port gets its cluster, routed or not, as in kgateway."""
    namespace, name = service.key
    for port in service.spec.ports:
        cluster = _base(names.service_cluster(namespace, name, port.port))
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(protos.ads())
        if port.speaks_http2:
            _http2(cluster)
        yield port, cluster


def backend_cluster(backend: Backend) -> cluster_pb2.Cluster:
    """A static host list; names that are not IP addresses are resolved by DNS."""
    namespace, name = backend.key
    cluster = _base(names.backend_cluster(namespace, name))
    hosts = backend.spec.static.hosts
    cluster.type = (
        cluster_pb2.Cluster.STATIC
        if all(_is_ip(h.host) for h in hosts)
        else cluster_pb2.Cluster.STRICT_DNS
    )
    cluster.load_assignment.CopyFrom(
        endpoint_pb2.ClusterLoadAssignment(
            cluster_name=cluster.name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=protos.socket_address(h.host, h.port)
                            )
                        )
                        for h in hosts
                    ]
                )
            ],
        )
    )
    return cluster


def apply_policies(
    cluster: cluster_pb2.Cluster, attachment: Attachment | None, http2: bool
) -> list[tuple[str, str]]:
    """Apply the merged settings; returns (spec field, warning) for parts that were ignored."""
    warnings: list[tuple[str, str]] = []
    for setting in attachment.settings if attachment else ():
        context = ClusterContext(http2=http2)
        APPLY[setting.field](setting.value, cluster, context)
        warnings.extend((setting.field, w) for w in context.warnings)
    return warnings


def target_of(service: Service) -> Target:
    return Target("", "Service", *service.key)


def _base(name: str) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=name)
    cluster.connect_timeout.seconds = DEFAULT_CONNECT_TIMEOUT_SECONDS
    cluster.metadata.SetInParent()  # kgateway's clusters carry an empty metadata; so do ours
    return cluster


def _http2(cluster: cluster_pb2.Cluster) -> None:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.SetInParent()
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(protos.pack(options))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
