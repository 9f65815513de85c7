"""HTTPRoutes to Envoy routes, each route once, and the RouteConfiguration of one listener.

A rule using something xdscp does not implement is dropped and reported (the route is then
PartiallyInvalid, or not Accepted when no rule is left), never served with a part ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2, route_pb2

from xdscp.model.httproute import HTTPRoute, RouteRule
from xdscp.model.problems import Problem
from xdscp.model.resources import Resources
from xdscp.translate.backendrefs import Unresolved, resolve
from xdscp.translate.filters import SUPPORTED, apply_filters, redirect_of
from xdscp.translate.matches import precedence, route_match

SOURCE = "translate"


@dataclass(frozen=True)
class TranslatedRoute:
    """One HTTPRoute as Envoy routes, and what is wrong with it: the same on every listener."""

    route: HTTPRoute
    envoy_routes: tuple[route_components_pb2.Route, ...]
    problems: tuple[Problem, ...]
    clusters: frozenset[str]  # what its routes send to
    unresolved: Unresolved | None  # the first backendRef that resolves to nothing
    dropped: tuple[str, ...]  # why rules were left out, one line each

    @property
    def rules_left(self) -> bool:
        return len(self.dropped) < len(self.route.spec.rules)


# A cluster name never served (not kube_...): Envoy answers requests weighted to it with the
# route's cluster_not_found_response_code.
INVALID_BACKEND = "xdscp_invalid_backend"


def translate_route(route: HTTPRoute, resources: Resources) -> TranslatedRoute:
    problems: list[Problem] = []
    unresolved: list[Unresolved] = []
    dropped: list[str] = []
    envoy_routes: list[route_components_pb2.Route] = []

    def problem(field: str, message: str, warning: bool = False) -> None:
        source = resources.origin(route, SOURCE)
        problems.append(Problem(source, route.KIND, *route.key, field, message, warning))

    for index, rule in enumerate(route.spec.rules):
        where = f"spec.rules[{index}]"
        unsupported = list(_unsupported(rule, where))
        if unsupported:
            for field, message in unsupported:
                problem(field, f"{message}; the rule is not served")
            dropped.append(f"{unsupported[0][0]}: {unsupported[0][1]}")
            continue
        clusters = []
        for i, ref in enumerate(rule.backend_refs):
            cluster = resolve(ref, route, resources)
            if isinstance(cluster, Unresolved):
                # Valid as written (Gateway API: the rule answers 500): a warning.
                problem(f"{where}.backendRefs[{i}]", cluster.message, warning=True)
                unresolved.append(cluster)
                if ref.weight > 0:
                    clusters.append((INVALID_BACKEND, ref.weight))
            elif ref.weight > 0:
                clusters.append((cluster, ref.weight))
        prefix = rule.matches[0].path.value if len(rule.matches) == 1 else None
        for match in rule.matches:
            envoy_route = route_components_pb2.Route(match=route_match(match))
            _act(envoy_route, rule, clusters)
            apply_filters(envoy_route, rule, prefix)
            envoy_routes.append(envoy_route)
    used = frozenset(
        name
        for envoy_route in envoy_routes
        for name in (
            envoy_route.route.cluster,
            *(c.name for c in envoy_route.route.weighted_clusters.clusters),
        )
        if name and name != INVALID_BACKEND
    )
    return TranslatedRoute(
        route,
        tuple(envoy_routes),
        tuple(problems),
        used,
        unresolved[0] if unresolved else None,
        tuple(dropped),
    )


def _act(
    envoy_route: route_components_pb2.Route, rule: RouteRule, clusters: list[tuple[str, int]]
) -> None:
    if redirect_of(rule) is not None:
        envoy_route.redirect.SetInParent()  # filled in by the filter
    elif all(cluster == INVALID_BACKEND for cluster, _ in clusters):
        # Gateway API: a rule whose backends are all invalid (or that has none) answers 500.
        envoy_route.direct_response.status = 500
    elif len(clusters) == 1:
        envoy_route.route.cluster = clusters[0][0]
    else:
        for cluster, weight in clusters:
            envoy_route.route.weighted_clusters.clusters.add(name=cluster).weight.value = weight
        if any(cluster == INVALID_BACKEND for cluster, _ in clusters):
            # Gateway API: the share of an invalid backend answers 500, not the valid ones'.
            envoy_route.route.cluster_not_found_response_code = (
                route_components_pb2.RouteAction.INTERNAL_SERVER_ERROR
            )


def _unsupported(rule: RouteRule, where: str) -> Iterable[tuple[str, str]]:
    """(field, message) for each thing in a rule that xdscp does not implement."""
    for name in rule.unsupported:
        yield f"{where}.{name}", "is not supported by xdscp"
    for i, match in enumerate(rule.matches):
        for name in match.unsupported:
            yield f"{where}.matches[{i}].{name}", "is not supported by xdscp"
    for i, f in enumerate(rule.filters):
        if f.type not in SUPPORTED:
            yield f"{where}.filters[{i}]", f"filter type {f.type} is not supported by xdscp"
    for i, ref in enumerate(rule.backend_refs):
        for name in ref.unsupported:
            if name == "filters" and not ref.model_extra.get("filters"):  # type: ignore[union-attr]
                continue  # an empty list asks for nothing
            yield f"{where}.backendRefs[{i}].{name}", "is not supported by xdscp"


def route_configuration(
    name: str, hostnames: dict[str, list[TranslatedRoute]]
) -> route_pb2.RouteConfiguration:
    """One virtual host per hostname, its routes in Gateway API's order of precedence."""
    by_host: dict[str, list[route_components_pb2.Route]] = defaultdict(list)
    for host, routes in hostnames.items():
        # A route may arrive twice (two parentRefs, or two listeners sharing the port).
        # Among equal matches the first wins (sorted is stable): the oldest route's.
        for translated in sorted({id(r): r for r in routes}.values(), key=_age):
            by_host[host].extend(translated.envoy_routes)
    return route_pb2.RouteConfiguration(
        name=name,
        # A browser at http://www.example.com:8080 sends "Host: www.example.com:8080": it is
        # still www.example.com's route (hostnames in Gateway API carry no port).
        ignore_port_in_host_matching=True,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name=f"{name}/{host}", domains=[host], routes=sorted(rs, key=precedence)
            )
            for host, rs in sorted(by_host.items())
        ],
    )


def _age(translated: TranslatedRoute) -> tuple[bool, float, str, str]:
    """Gateway API's tie-break between routes: the oldest by creationTimestamp, then by
    namespace/name; routes without a timestamp (files) after those with one."""
    route = translated.route
    created = route.metadata.creation_timestamp
    undated = created is None
    return (undated, 0.0 if created is None else created.timestamp(), *route.key)
