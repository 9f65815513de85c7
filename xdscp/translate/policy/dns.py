"""dns: refresh rate, jitter and TTL of DNS-resolved Backends (envoy.clusters.dns).

Service clusters get their endpoints by EDS, so the block is ignored there, with a warning.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.clusters.dns.v3 import dns_cluster_pb2

from xdscp.model.policy.dns import Dns
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_duration
from xdscp.translate.policy.fragment import Fragment, Rule, ignore

DNS_CLUSTER = "envoy.clusters.dns"


def resolves_by_dns(cluster: cluster_pb2.Cluster) -> bool:
    return bool(cluster.cluster_type.name == DNS_CLUSTER)


def dns_cluster_type(config: dns_cluster_pb2.DnsCluster) -> cluster_pb2.Cluster.CustomClusterType:
    return cluster_pb2.Cluster.CustomClusterType(name=DNS_CLUSTER, typed_config=protos.pack(config))


def apply_dns(value: Dns, context: ClusterContext) -> Fragment:
    if not context.dns:
        return ignore(Rule.NEEDS_DNS, "ignored: only Backends with DNS host names resolve by DNS")
    config = dns_cluster_pb2.DnsCluster()
    put_duration(config.dns_refresh_rate, value.refresh_rate)
    put_duration(config.dns_jitter, value.jitter)
    if value.respect_ttl is not None:
        config.respect_dns_ttl = value.respect_ttl
    return Fragment(cluster_pb2.Cluster(cluster_type=dns_cluster_type(config)))
