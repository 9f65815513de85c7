"""Gateway listeners to Envoy Listeners, each with the RouteConfiguration of the HTTPRoutes
attached to it (by RDS, under the listener's name)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from xdscp.model.gateway import Gateway, Listener
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, Resources
from xdscp.translate import names, protos
from xdscp.translate.routes import SOURCE, TranslatedRoute, route_configuration, translate_route


@dataclass
class GatewayParts:
    """What one Gateway's proxies need: its listeners (and their routes, named alike), and the
    clusters those routes send to."""

    listeners: set[str] = field(default_factory=set)
    clusters: set[str] = field(default_factory=set)


@dataclass
class GatewayOutput:
    listeners: dict[str, listener_pb2.Listener] = field(default_factory=dict)
    routes: dict[str, route_pb2.RouteConfiguration] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    parts: dict[Key, GatewayParts] = field(default_factory=dict)


def translate_gateways(resources: Resources, bind_address: str) -> GatewayOutput:
    out = GatewayOutput()
    # Each route is translated (and its problems reported) once, however many listeners use it.
    translated = {key: translate_route(r, resources) for key, r in resources.http_routes.items()}
    attached = _routes_by_listener(resources, translated)
    for (namespace, name), gateway in resources.gateways.items():
        ports: dict[int, str] = {}  # each Gateway has proxies of its own, so ports of its own
        parts = out.parts[(namespace, name)] = GatewayParts()
        for listener in gateway.spec.listeners:
            listener_name = names.listener(namespace, name, listener.name)
            problem = _unsupported(gateway, listener, ports, resources.origin(gateway, SOURCE))
            if problem:
                out.problems.append(problem)
                continue
            ports[listener.port] = listener_name
            parts.listeners.add(listener_name)
            out.listeners[listener_name] = _listener(listener_name, bind_address, listener.port)
            routes = attached.get((namespace, name, listener.name), [])
            out.routes[listener_name] = route_configuration(
                listener_name, listener.hostname, routes
            )
            parts.clusters.update(c for route in routes for c in route.clusters)
    for route in translated.values():
        out.problems.extend(route.problems)
    return out


def _unsupported(
    gateway: Gateway, listener: Listener, ports: dict[int, str], source: str
) -> Problem | None:
    def problem(message: str) -> Problem:
        return Problem(
            source, gateway.KIND, *gateway.key, f"spec.listeners[{listener.name}]", message
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


def _routes_by_listener(
    resources: Resources, translated: dict[Key, TranslatedRoute]
) -> dict[tuple[str, str, str], list[TranslatedRoute]]:
    """Routes per (gateway namespace, gateway, listener); no sectionName means every one."""
    by_listener: dict[tuple[str, str, str], list[TranslatedRoute]] = defaultdict(list)
    for route_key, route in resources.http_routes.items():
        for parent in route.spec.parent_refs:
            key = (parent.namespace or route.metadata.namespace, parent.name)
            gateway = resources.gateways.get(key)
            if gateway is None:
                continue
            for listener in gateway.spec.listeners:
                if parent.section_name in (None, listener.name):
                    by_listener[(*key, listener.name)].append(translated[route_key])
    return by_listener
