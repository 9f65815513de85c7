"""Clusters: one per Service port (endpoints by EDS) and one per static Backend."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.clusters.dns.v3 import dns_cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from xdscp.model.backendconfigpolicy import Backend, StaticHost
from xdscp.model.service import Service, ServicePort
from xdscp.translate import names, protos
from xdscp.translate.attachment import Attachment
from xdscp.translate.policy import APPLY, ClusterContext
from xdscp.translate.policy.dns import DNS_CLUSTER
from xdscp.translate.policy.httpoptions import (
    HTTP_PROTOCOL_OPTIONS,
    mutate_http_options,
    set_http2,
)

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5
_APPLY_ORDER = list(APPLY)


def service_clusters(service: Service) -> Iterator[tuple[ServicePort, cluster_pb2.Cluster]]:
    """Every port gets its cluster, routed or not, as in kgateway."""
    namespace, name = service.key
    for port in service.spec.ports:
        cluster = _base(names.service_cluster(namespace, name, port.port))
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(protos.ads())
        if port.speaks_http2:
            mutate_http_options(cluster, set_http2)
        yield port, cluster


def backend_cluster(backend: Backend) -> cluster_pb2.Cluster:
    """A static host list; host names are resolved by Envoy's DNS cluster, as in kgateway."""
    namespace, name = backend.key
    cluster = _base(names.backend_cluster(namespace, name))
    static = backend.spec.static
    if all(_is_ip(h.host) for h in static.hosts):
        cluster.type = cluster_pb2.Cluster.STATIC
    else:
        cluster.cluster_type.name = DNS_CLUSTER
        cluster.cluster_type.typed_config.CopyFrom(protos.pack(dns_cluster_pb2.DnsCluster()))
    cluster.load_assignment.CopyFrom(
        endpoint_pb2.ClusterLoadAssignment(
            cluster_name=cluster.name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[_lb_endpoint(h) for h in static.hosts]
                )
            ],
        )
    )
    if static.speaks_http2:
        mutate_http_options(cluster, set_http2)
    return cluster


def apply_policies(
    cluster: cluster_pb2.Cluster, attachment: Attachment | None, http2: bool
) -> list[tuple[str, str]]:
    """Apply the merged settings; returns (spec field, warning) for parts that were ignored."""
    # The caller knows a Service port's protocol; a Backend's is known to its cluster only.
    http2 = http2 or _speaks_http2(cluster)
    warnings: list[tuple[str, str]] = []
    settings = attachment.settings if attachment else ()
    for setting in sorted(settings, key=lambda s: _APPLY_ORDER.index(s.field)):
        context = ClusterContext(http2=http2, policy=setting.policy)
        APPLY[setting.field](setting.value, cluster, context)
        warnings.extend((setting.field, w) for w in context.warnings)
    return warnings


def _base(name: str) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=name)
    cluster.connect_timeout.seconds = DEFAULT_CONNECT_TIMEOUT_SECONDS
    cluster.metadata.SetInParent()  # kgateway's clusters carry an empty metadata; so do ours
    return cluster


def _lb_endpoint(host: StaticHost) -> endpoint_components_pb2.LbEndpoint:
    endpoint = endpoint_components_pb2.Endpoint(address=protos.socket_address(host.host, host.port))
    if not _is_ip(host.host):
        endpoint.hostname = host.host  # what useHostnameForHashing hashes
    return endpoint_components_pb2.LbEndpoint(endpoint=endpoint)


def _speaks_http2(cluster: cluster_pb2.Cluster) -> bool:
    if HTTP_PROTOCOL_OPTIONS not in cluster.typed_extension_protocol_options:
        return False
    options = http_protocol_options_pb2.HttpProtocolOptions()
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    return bool(options.explicit_http_config.HasField("http2_protocol_options"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
