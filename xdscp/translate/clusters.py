"""Clusters: one per Service port (endpoints by EDS) and one per static Backend."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.clusters.dns.v3 import dns_cluster_pb2

from xdscp.model.backendconfigpolicy import Backend, StaticHost
from xdscp.model.resources import Key
from xdscp.model.service import Service, ServicePort
from xdscp.translate import names, protos
from xdscp.translate.attachment import Attachment
from xdscp.translate.policy import APPLY, ClusterContext
from xdscp.translate.policy.dns import dns_cluster_type, resolves_by_dns
from xdscp.translate.policy.fragment import Ignored, merge
from xdscp.translate.policy.httpoptions import mutate_http_options, set_http2
from xdscp.translate.secrets import Resolved

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5


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
        cluster.cluster_type.CopyFrom(dns_cluster_type(dns_cluster_pb2.DnsCluster()))
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
    cluster: cluster_pb2.Cluster,
    attachment: Attachment | None,
    http2: bool,
    secrets: Mapping[Key, Resolved],
) -> list[tuple[str, Ignored]]:
    """Apply the merged settings; returns (spec field, what) for parts that were ignored."""
    fragments = [
        (
            setting.field,
            APPLY[setting.field](
                setting.value,
                ClusterContext(
                    cluster.name, http2, resolves_by_dns(cluster), setting.policy, secrets
                ),
            ),
        )
        for setting in (attachment.settings if attachment else ())
    ]
    merge(cluster, (fragment for _, fragment in fragments))
    return [(spec_field, part) for spec_field, fragment in fragments for part in fragment.ignored]


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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
