"""loadBalancer: a typed load_balancing_policy (never the legacy lb_policy enum) and the
common_lb_config settings healthyPanicThreshold, updateMergeWindow, closeConnectionsOnHostSetChange.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import extension_pb2
from envoy.extensions.load_balancing_policies.least_request.v3 import least_request_pb2
from envoy.extensions.load_balancing_policies.maglev.v3 import maglev_pb2
from envoy.extensions.load_balancing_policies.random.v3 import random_pb2
from envoy.extensions.load_balancing_policies.ring_hash.v3 import ring_hash_pb2
from envoy.extensions.load_balancing_policies.round_robin.v3 import round_robin_pb2
from google.protobuf.message import Message

from xdscp.model.policy.loadbalancer import LoadBalancer
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_duration, put_value
from xdscp.translate.policy.fragment import Fragment, Ignored, Rule
from xdscp.translate.policy.lbparts import consistent_hashing, locality, slow_start


def apply_load_balancer(value: LoadBalancer, context: ClusterContext) -> Fragment:
    cluster = cluster_pb2.Cluster()
    put_value(cluster.common_lb_config.healthy_panic_threshold, value.healthy_panic_threshold)
    put_duration(cluster.common_lb_config.update_merge_window, value.update_merge_window)
    if value.close_connections_on_host_set_change is not None:
        cluster.common_lb_config.close_connections_on_host_set_change = (
            value.close_connections_on_host_set_change
        )
    ignored: list[Ignored] = []
    name, config = _algorithm(value, context, ignored)
    cluster.load_balancing_policy.policies.add().typed_extension_config.CopyFrom(
        extension_pb2.TypedExtensionConfig(
            name=f"envoy.load_balancing_policies.{name}", typed_config=protos.pack(config)
        )
    )
    return Fragment(cluster, ignored=tuple(ignored))


def _algorithm(
    value: LoadBalancer, context: ClusterContext, ignored: list[Ignored]
) -> tuple[str, Message]:
    """The one algorithm the CRD lets a loadBalancer set, as Envoy's extension name and config."""
    zone = locality(value)
    if value.least_request is not None:
        least = least_request_pb2.LeastRequest(locality_lb_config=zone)
        least.choice_count.value = value.least_request.choice_count
        if value.least_request.slow_start is not None:
            least.slow_start_config.CopyFrom(
                slow_start(value.least_request.slow_start, context.policy)
            )
        return "least_request", least
    if value.round_robin is not None:
        robin = round_robin_pb2.RoundRobin(locality_lb_config=zone)
        if value.round_robin.slow_start is not None:
            robin.slow_start_config.CopyFrom(
                slow_start(value.round_robin.slow_start, context.policy)
            )
        return "round_robin", robin
    weighted = zone.locality_weighted_lb_config if zone is not None else None
    if value.ring_hash is not None:
        ring = value.ring_hash
        config = ring_hash_pb2.RingHash(
            consistent_hashing_lb_config=consistent_hashing(
                _hostname(ring.use_hostname_for_hashing, context, ignored), ring.hash_policies
            ),
            locality_weighted_lb_config=weighted,
        )
        put_value(config.minimum_ring_size, ring.minimum_ring_size)
        put_value(config.maximum_ring_size, ring.maximum_ring_size)
        return "ring_hash", config
    if value.maglev is not None:
        maglev = value.maglev
        return "maglev", maglev_pb2.Maglev(
            consistent_hashing_lb_config=consistent_hashing(
                _hostname(maglev.use_hostname_for_hashing, context, ignored),
                maglev.hash_policies,
            ),
            locality_weighted_lb_config=weighted,
        )
    return "random", random_pb2.Random(locality_lb_config=zone)


def _hostname(
    use_hostname: bool | None, context: ClusterContext, ignored: list[Ignored]
) -> bool | None:
    """Only DNS-resolved endpoints have a host name to hash; elsewhere Envoy would hash ""."""
    if use_hostname and not context.dns:
        ignored.append(
            Ignored(
                Rule.NEEDS_DNS,
                "useHostnameForHashing ignored: only DNS-resolved Backends have host names",
            )
        )
        return None
    return use_hostname
