"""Gateway listeners to Envoy Listeners, and their HTTPRoutes to RouteConfigurations (by RDS)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import regex_pb2

from xdscp.model.gateway import BackendRef, Gateway, HTTPRoute, Listener, PathMatch
from xdscp.model.problems import Problem
from xdscp.model.resources import Resources
from xdscp.translate import names, protos

SOURCE = "translate"


@dataclass
class GatewayOutput:
    listeners: dict[str, listener_pb2.Listener] = field(default_factory=dict)
    routes: dict[str, route_pb2.RouteConfiguration] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def translate_gateways(resources: Resources, bind_address: str) -> GatewayOutput:
    out = GatewayOutput()
    ports: dict[int, str] = {}
    attached = _routes_by_listener(resources)
    for (namespace, name), gateway in resources.gateways.items():
        for listener in gateway.spec.listeners:
            listener_name = names.listener(namespace, name, listener.name)
            problem = _unsupported(gateway, listener, ports, resources.origin(gateway, SOURCE))
            if problem:
                out.problems.append(problem)
                continue
            ports[listener.port] = listener_name
            out.listeners[listener_name] = _listener(listener_name, bind_address, listener.port)
            routes = attached.get((namespace, name, listener.name), [])
            out.routes[listener_name] = _route_config(
                listener_name, listener, routes, resources, out
            )
    return out


def _unsupported(
    gateway: Gateway, listener: Listener, ports: dict[int, str], source: str
) -> Problem | None:
    def problem(message: str) -> Problem:
        return Problem(
            SOURCE, gateway.KIND, *gateway.key, f"spec.listeners[{listener.name}]", message
        )

    if listener.protocol != "HTTP":
        return problem(f"protocol {listener.protocol} is not supported; only HTTP is")
    if listener.port in ports:
        return problem(f"port {listener.port} is already used by listener {ports[listener.port]}")
    return None


def _listener(name: str, bind_address: str, port: int) -> listener_pb2.Listener:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name.replace("/", "_"),
        rds=hcm_pb2.Rds(config_source=protos.ads(), route_config_name=name),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=protos.pack(router_pb2.Router())
            )
        ],
    )
    return listener_pb2.Listener(
        name=name,
        address=protos.socket_address(bind_address, port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=protos.pack(manager),
                    )
                ]
            )
        ],
    )


def _routes_by_listener(resources: Resources) -> dict[tuple[str, str, str], list[HTTPRoute]]:
    """HTTPRoutes per (gateway namespace, gateway, listener); no sectionName means every one."""
    by_listener: dict[tuple[str, str, str], list[HTTPRoute]] = defaultdict(list)
    for route in resources.http_routes.values():
        for parent in route.spec.parent_refs:
            key = (parent.namespace or route.metadata.namespace, parent.name)
            gateway = resources.gateways.get(key)
            if gateway is None:
                continue
            for listener in gateway.spec.listeners:
                if parent.section_name in (None, listener.name):
                    by_listener[(*key, listener.name)].append(route)
    return by_listener


def _route_config(
    name: str,
    listener: Listener,
    routes: list[HTTPRoute],
    resources: Resources,
    out: GatewayOutput,
) -> route_pb2.RouteConfiguration:
    by_host: dict[str, list[route_components_pb2.Route]] = defaultdict(list)
    for route in routes:
        hosts = route.spec.hostnames or (listener.hostname or "*",)
        envoy_routes = list(_envoy_routes(route, resources, out))
        for host in hosts:
            by_host[host].extend(envoy_routes)
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name=f"{name}/{host}", domains=[host], routes=sorted(rs, key=_precedence)
            )
            for host, rs in sorted(by_host.items())
        ],
    )


def _envoy_routes(
    route: HTTPRoute, resources: Resources, out: GatewayOutput
) -> Iterator[route_components_pb2.Route]:
    for index, rule in enumerate(route.spec.rules):
        clusters = [
            (
                _cluster_for(ref, route, resources, f"spec.rules[{index}].backendRefs", out),
                ref.weight,
            )
            for ref in rule.backend_refs
        ]
        for match in rule.matches:
            envoy_route = route_components_pb2.Route(match=_path_match(match.path))
            valid = [(c, w) for c, w in clusters if c is not None and w > 0]
            if not valid:
                envoy_route.direct_response.status = 500  # Gateway API: invalid backends get 500
            elif len(valid) == 1:
                envoy_route.route.cluster = valid[0][0]
            else:
                for cluster, weight in valid:
                    envoy_route.route.weighted_clusters.clusters.add(
                        name=cluster
                    ).weight.value = weight
            yield envoy_route


def _cluster_for(
    ref: BackendRef, route: HTTPRoute, resources: Resources, field: str, out: GatewayOutput
) -> str | None:
    namespace = ref.namespace or route.metadata.namespace

    def problem(message: str) -> None:
        source = resources.origin(route, SOURCE)
        out.problems.append(Problem(source, route.KIND, *route.key, field, message))

    if (ref.group, ref.kind) == ("gateway.kgateway.dev", "Backend"):
        if (namespace, ref.name) in resources.backends:
            return names.backend_cluster(namespace, ref.name)
        problem(f"Backend {namespace}/{ref.name} not found")
        return None
    if (ref.group, ref.kind) != ("", "Service"):
        problem(f"backendRef kind {ref.group}/{ref.kind} is not supported")
        return None
    service = resources.services.get((namespace, ref.name))
    if service is None:
        problem(f"Service {namespace}/{ref.name} not found")
        return None
    if ref.port is None or all(p.port != ref.port for p in service.spec.ports):
        problem(f"Service {namespace}/{ref.name} has no port {ref.port}")
        return None
    return names.service_cluster(namespace, ref.name, ref.port)


def _path_match(path: PathMatch) -> route_components_pb2.RouteMatch:
    if path.type == "Exact":
        return route_components_pb2.RouteMatch(path=path.value)
    if path.type == "RegularExpression":
        return route_components_pb2.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex=path.value))
    if path.value == "/":
        return route_components_pb2.RouteMatch(prefix="/")
    # Gateway API prefixes match whole segments: /foo matches /foo and /foo/bar, not /foobar.
    return route_components_pb2.RouteMatch(path_separated_prefix=path.value.rstrip("/"))


def _precedence(route: route_components_pb2.Route) -> tuple[int, int]:
    """Exact paths first, then longer prefixes, then regular expressions, as Gateway API says."""
    match = route.match
    if match.path:
        return (0, -len(match.path))
    if match.path_separated_prefix or match.prefix:
        return (1, -len(match.path_separated_prefix or match.prefix))
    return (2, 0)
