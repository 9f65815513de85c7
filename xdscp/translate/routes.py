"""HTTPRoutes to Envoy routes, each route once, and the RouteConfiguration of one listener."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.type.matcher.v3 import regex_pb2

from xdscp.model.gateway import BackendRef, HTTPRoute, PathMatch
from xdscp.model.problems import Problem
from xdscp.model.resources import Resources
from xdscp.translate import names

SOURCE = "translate"


@dataclass(frozen=True)
class TranslatedRoute:
    """One HTTPRoute as Envoy routes, and what is wrong with it: the same on every listener."""

    route: HTTPRoute
    envoy_routes: tuple[route_components_pb2.Route, ...]
    problems: tuple[Problem, ...]
    clusters: frozenset[str]  # what its routes send to


def translate_route(route: HTTPRoute, resources: Resources) -> TranslatedRoute:
    problems: list[Problem] = []
    envoy_routes = []
    for index, rule in enumerate(route.spec.rules):
        clusters = [
            (
                _cluster_for(
                    ref, route, resources, f"spec.rules[{index}].backendRefs[{i}]", problems
                ),
                ref.weight,
            )
            for i, ref in enumerate(rule.backend_refs)
        ]
        valid = [(c, w) for c, w in clusters if c is not None and w > 0]
        for match in rule.matches:
            envoy_route = route_components_pb2.Route(match=_path_match(match.path))
            if not valid:
                envoy_route.direct_response.status = 500  # Gateway API: invalid backends get 500
            elif len(valid) == 1:
                envoy_route.route.cluster = valid[0][0]
            else:
                for cluster, weight in valid:
                    envoy_route.route.weighted_clusters.clusters.add(
                        name=cluster
                    ).weight.value = weight
            envoy_routes.append(envoy_route)
    used = frozenset(
        name
        for envoy_route in envoy_routes
        for name in (
            envoy_route.route.cluster,
            *(c.name for c in envoy_route.route.weighted_clusters.clusters),
        )
        if name
    )
    return TranslatedRoute(route, tuple(envoy_routes), tuple(problems), used)


def route_configuration(
    name: str, listener_hostname: str | None, routes: Iterable[TranslatedRoute]
) -> route_pb2.RouteConfiguration:
    """One virtual host per hostname; a route without hostnames takes the listener's, or "*"."""
    by_host: dict[str, list[route_components_pb2.Route]] = defaultdict(list)
    for translated in routes:
        for host in translated.route.spec.hostnames or (listener_hostname or "*",):
            by_host[host].extend(translated.envoy_routes)
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name=f"{name}/{host}", domains=[host], routes=sorted(rs, key=_precedence)
            )
            for host, rs in sorted(by_host.items())
        ],
    )


def _cluster_for(
    ref: BackendRef, route: HTTPRoute, resources: Resources, field: str, problems: list[Problem]
) -> str | None:
    namespace = ref.namespace or route.metadata.namespace

    def problem(message: str) -> None:
        source = resources.origin(route, SOURCE)
        problems.append(Problem(source, route.KIND, *route.key, field, message))

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
