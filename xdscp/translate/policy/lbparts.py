"""Parts shared by the load balancing algorithms: slow start, hash policies, locality."""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.load_balancing_policies.common.v3 import common_pb2

from xdscp.model.policy.hashing import Cookie, HashPolicy
from xdscp.model.policy.loadbalancer import LoadBalancer, SlowStart
from xdscp.translate.policy.fields import put_duration, put_value


def slow_start(
    value: SlowStart | None, policy: tuple[str, str]
) -> common_pb2.SlowStartConfig | None:
    if value is None:
        return None
    config = common_pb2.SlowStartConfig()
    put_duration(config.slow_start_window, value.window)
    put_value(config.min_weight_percent, value.min_weight_percent)
    if value.aggression is not None:
        namespace, name = policy
        config.aggression.default_value = float(value.aggression)
        # Envoy wants a runtime key beside the value; kgateway's, so runtime overrides carry over.
        config.aggression.runtime_key = f"{name}.{namespace}.slowStart.aggression"
    return config


def consistent_hashing(
    use_hostname: bool | None, policies: Iterable[HashPolicy] | None
) -> common_pb2.ConsistentHashingLbConfig | None:
    """None when neither is set, so Envoy's defaults stay in force."""
    if use_hostname is None and not policies:
        return None
    return common_pb2.ConsistentHashingLbConfig(
        use_hostname_for_hashing=bool(use_hostname),
        hash_policy=[_hash_policy(p) for p in policies or ()],
    )


def _hash_policy(value: HashPolicy) -> route_components_pb2.RouteAction.HashPolicy:
    policy = route_components_pb2.RouteAction.HashPolicy(terminal=bool(value.terminal))
    if value.header is not None:
        policy.header.header_name = value.header.name
    elif value.cookie is not None:
        policy.cookie.CopyFrom(_cookie(value.cookie))
    else:
        policy.connection_properties.source_ip = True
    return policy


def _cookie(value: Cookie) -> route_components_pb2.RouteAction.HashPolicy.Cookie:
    cookie = route_components_pb2.RouteAction.HashPolicy.Cookie(
        name=value.name, path=value.path or ""
    )
    put_duration(cookie.ttl, value.ttl)
    for attribute, set_to in (
        ("Secure", "true" if value.secure else None),
        ("HttpOnly", "true" if value.http_only else None),
        ("SameSite", value.same_site),
    ):
        if set_to is not None:
            cookie.attributes.add(name=attribute, value=set_to)
    return cookie


def locality(value: LoadBalancer) -> common_pb2.LocalityLbConfig | None:
    """zoneAware or localityType, else nothing: Envoy's default, which without a local
    cluster configured does no zone-aware routing."""
    config = common_pb2.LocalityLbConfig()
    if value.zone_aware is not None and value.zone_aware.prefer_local is not None:
        prefer = value.zone_aware.prefer_local
        zone = config.zone_aware_lb_config
        zone.routing_enabled.value = prefer.routing_enabled
        zone.min_cluster_size.value = prefer.min_endpoints_threshold
        if prefer.force is not None:
            zone.force_local_zone.min_size.value = prefer.force.min_endpoints_in_zone_threshold
        return config
    if value.locality_type == "WeightedLb":
        config.locality_weighted_lb_config.SetInParent()
        return config
    return None
