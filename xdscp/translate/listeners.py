"""Gateway listeners to Envoy Listeners, each with the RouteConfiguration of the HTTPRoutes
attached to it (by RDS, under the listener's name); and the status of both, as data.

A route attaches to a listener as Gateway API says: the parentRef names it (sectionName, port),
its allowedRoutes admit the route's namespace and kind, and their hostnames intersect.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from xdscp.gatewaystatus import GatewayStatus, ListenerStatus, ParentStatus, RouteStatus
from xdscp.model.gateway import Gateway, Listener
from xdscp.model.gatewayapi import GROUP
from xdscp.model.httproute import HTTPRoute, ParentRef
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, Resources
from xdscp.status import Condition
from xdscp.translate import names, protos
from xdscp.translate.hostnames import intersect
from xdscp.translate.routes import SOURCE, TranslatedRoute, route_configuration, translate_route


@dataclass
class GatewayParts:
    """What one Gateway's proxies need: its listeners (and their routes, named alike), and the
    clusters those routes send to."""

    listeners: set[str] = field(default_factory=set)
    clusters: set[str] = field(default_factory=set)


@dataclass
class GatewayOutput:
    # Listeners and their route configurations (named alike), serialized (protos.encode).
    listeners: dict[str, bytes] = field(default_factory=dict)
    routes: dict[str, bytes] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    parts: dict[Key, GatewayParts] = field(default_factory=dict)
    gateway_statuses: list[GatewayStatus] = field(default_factory=list)
    route_statuses: list[RouteStatus] = field(default_factory=list)


# A listener's routes, by the hostnames it serves them under.
Hosted = dict[str, list[TranslatedRoute]]


def translate_gateways(
    resources: Resources, bind_address: str, foreign: frozenset[Key] = frozenset()
) -> GatewayOutput:
    """`foreign`: other controllers' Gateways; a parentRef naming one is theirs to report."""
    out = GatewayOutput()
    # Each route is translated (and its problems reported) once, however many listeners use it.
    translated = {key: translate_route(r, resources) for key, r in resources.http_routes.items()}
    valid = {key: _valid_listeners(g, resources, out) for key, g in resources.gateways.items()}
    hosted: dict[tuple[str, str, str], Hosted] = defaultdict(lambda: defaultdict(list))
    for route_key, route in resources.http_routes.items():
        parents = []
        for index, parent in enumerate(route.spec.parent_refs):
            if (parent.group, parent.kind) != (GROUP, "Gateway"):
                continue  # another controller's parent (a Service, for a mesh): not ours
            if (parent.namespace or route.metadata.namespace, parent.name) in foreign:
                continue
            status = _attach(route, translated[route_key], parent, resources, valid, hosted)
            accepted = status.conditions[0]
            if not accepted.status:
                out.problems.append(
                    Problem(
                        resources.origin(route, SOURCE),
                        route.KIND,
                        *route_key,
                        f"spec.parentRefs[{index}]",
                        f"not attached ({accepted.reason}): {accepted.message}",
                        warning=True,  # served as written, where it attaches
                    )
                )
            parents.append(status)
        out.route_statuses.append(
            RouteStatus(*route_key, route.metadata.generation, tuple(parents))
        )
    for (namespace, name), gateway in resources.gateways.items():
        parts = out.parts[(namespace, name)] = GatewayParts()
        refusals = valid[(namespace, name)]
        statuses = []
        # Listeners on one port (distinct hostnames) are one Envoy listener, named after the
        # first: its routes are theirs together, by hostname.
        by_port: dict[int, tuple[str, Hosted]] = {}
        for listener in gateway.spec.listeners:
            routes = hosted.get((namespace, name, listener.name), {})
            statuses.append(_listener_status(listener, refusals, routes))
            if refusals[listener.name] is not None:
                continue
            first = names.listener(namespace, name, listener.name)
            _, merged = by_port.setdefault(listener.port, (first, defaultdict(list)))
            for host, attached in routes.items():
                merged[host].extend(attached)
        for port, (listener_name, routes) in by_port.items():
            parts.listeners.add(listener_name)
            out.listeners[listener_name] = protos.encode(
                _listener(listener_name, bind_address, port)
            )
            out.routes[listener_name] = protos.encode(route_configuration(listener_name, routes))
            parts.clusters.update(c for rs in routes.values() for r in rs for c in r.clusters)
        out.gateway_statuses.append(_gateway_status(gateway, refusals, statuses))
    for each in translated.values():
        out.problems.extend(each.problems)
    return out


def _valid_listeners(
    gateway: Gateway, resources: Resources, out: GatewayOutput
) -> dict[str, Condition | None]:
    """Every listener by name: None if it is served, else why not (its Accepted condition).
    HTTP listeners may share a port when their hostnames differ, as Gateway API allows; the
    first to ask for a port and hostname has it. Other Gateways have Envoys of their own, and
    so ports of their own."""
    taken: dict[tuple[int, str | None], str] = {}
    found: dict[str, Condition | None] = {}
    for listener in gateway.spec.listeners:
        refused: Condition | None = None
        holder = taken.get((listener.port, listener.hostname))
        if listener.protocol != "HTTP":
            refused = Condition(
                "Accepted",
                False,
                "UnsupportedProtocol",
                f"protocol {listener.protocol} is not supported; only HTTP is",
            )
        elif holder is not None:
            shown = listener.hostname or "any hostname"
            refused = Condition(
                "Accepted",
                False,
                "PortUnavailable",
                f"port {listener.port} with {shown} is already used by listener {holder}",
            )
        if refused:
            source = resources.origin(gateway, SOURCE)
            where = f"spec.listeners[{listener.name}]"
            out.problems.append(Problem(source, gateway.KIND, *gateway.key, where, refused.message))
        else:
            taken[(listener.port, listener.hostname)] = names.listener(*gateway.key, listener.name)
        found[listener.name] = refused
    return found


def _attach(
    route: HTTPRoute,
    translated: TranslatedRoute,
    parent: ParentRef,
    resources: Resources,
    valid: dict[Key, dict[str, Condition | None]],
    hosted: dict[tuple[str, str, str], Hosted],
) -> ParentStatus:
    """Attach the route to the listeners `parent` names; the parent's status says how it went."""
    key = (parent.namespace or route.metadata.namespace, parent.name)
    accepted = _accepted(route, translated, parent, key, resources, valid, hosted)
    resolved = (
        Condition(
            "ResolvedRefs", False, translated.unresolved.reason, translated.unresolved.message
        )
        if translated.unresolved
        else Condition("ResolvedRefs", True, "ResolvedRefs", "every backendRef resolved")
    )
    conditions = [accepted, resolved]
    if translated.dropped and translated.rules_left:
        message = "rules not served: " + "; ".join(translated.dropped)
        conditions.append(Condition("PartiallyInvalid", True, "UnsupportedValue", message))
    return ParentStatus(
        parent.group, parent.kind, *key, parent.section_name, parent.port, tuple(conditions)
    )


def _accepted(
    route: HTTPRoute,
    translated: TranslatedRoute,
    parent: ParentRef,
    key: Key,
    resources: Resources,
    valid: dict[Key, dict[str, Condition | None]],
    hosted: dict[tuple[str, str, str], Hosted],
) -> Condition:
    gateway = resources.gateways.get(key)
    if gateway is None:
        return Condition(
            "Accepted", False, "NoMatchingParent", "Gateway {}/{} not found".format(*key)
        )
    named = [
        listener
        for listener in gateway.spec.listeners
        if parent.section_name in (None, listener.name)
        and parent.port in (None, listener.port)
        and valid[key].get(listener.name) is None
    ]
    if not named:
        return Condition(
            "Accepted",
            False,
            "NoMatchingParent",
            "no listener of the Gateway matches the parentRef",
        )
    allowed = [listener for listener in named if _allows(listener, gateway, route)]
    if not allowed:
        selector = any(n.allowed_routes.namespaces.from_ == "Selector" for n in named)
        return Condition(
            "Accepted",
            False,
            "NotAllowedByListeners",
            f"no listener's allowedRoutes admits HTTPRoutes from namespace "
            f"{route.metadata.namespace}"
            + ("; allowedRoutes.namespaces.from Selector is not supported" if selector else ""),
        )
    if not translated.rules_left:
        return Condition(
            "Accepted",
            False,
            "UnsupportedValue",
            "no rule is served: " + "; ".join(translated.dropped),
        )
    attached = False
    for listener in allowed:
        hosts = intersect(listener.hostname, route.spec.hostnames)
        for host in hosts:
            hosted[(*key, listener.name)][host].append(translated)
        attached = attached or bool(hosts)
    if not attached:
        return Condition(
            "Accepted",
            False,
            "NoMatchingListenerHostname",
            "no hostname of the route matches a listener's hostname",
        )
    return Condition("Accepted", True, "Accepted", "attached")


def _allows(listener: Listener, gateway: Gateway, route: HTTPRoute) -> bool:
    allowed = listener.allowed_routes
    kinds = allowed.kinds
    if kinds and not any((k.group, k.kind) == (GROUP, route.KIND) for k in kinds):
        return False
    source = allowed.namespaces.from_
    if source == "All":
        return True
    if source == "Same":
        return route.metadata.namespace == gateway.metadata.namespace
    return False  # Selector: xdscp does not read Namespaces (their labels), so admits none


def _listener_status(
    listener: Listener, valid: dict[str, Condition | None], routes: Hosted
) -> ListenerStatus:
    attached = len({id(r) for rs in routes.values() for r in rs})
    refused = valid.get(listener.name)
    if refused is not None:
        conditions = (
            refused,
            Condition("Programmed", False, "Invalid", refused.message),
            Condition("ResolvedRefs", True, "ResolvedRefs", "no references to resolve"),
            _conflicted(refused),
        )
        return ListenerStatus(listener.name, 0, conditions)
    kinds = listener.allowed_routes.kinds
    if kinds and not any((k.group, k.kind) == (GROUP, "HTTPRoute") for k in kinds):
        resolved = Condition(
            "ResolvedRefs", False, "InvalidRouteKinds", "only HTTPRoute is supported"
        )
    else:
        resolved = Condition("ResolvedRefs", True, "ResolvedRefs", "no references to resolve")
    return ListenerStatus(
        listener.name,
        attached,
        (
            Condition("Accepted", True, "Accepted", "served"),
            Condition("Programmed", True, "Programmed", "served"),
            resolved,
            _conflicted(None),
        ),
    )


def _conflicted(refused: Condition | None) -> Condition:
    if refused is not None and refused.reason == "PortUnavailable":
        return Condition("Conflicted", True, "HostnameConflict", refused.message)
    return Condition(
        "Conflicted", False, "NoConflicts", "no other listener of the Gateway conflicts"
    )


def _gateway_status(
    gateway: Gateway, valid: dict[str, Condition | None], listeners: list[ListenerStatus]
) -> GatewayStatus:
    served = sum(1 for refused in valid.values() if refused is None)
    if served == len(valid):
        accepted = Condition("Accepted", True, "Accepted", "every listener is served")
    elif served:
        accepted = Condition("Accepted", True, "ListenersNotValid", "some listeners are not served")
    else:
        accepted = Condition("Accepted", False, "ListenersNotValid", "no listener can be served")
    programmed = (
        Condition("Programmed", True, "Programmed", f"{served} listener(s) served")
        if served
        else Condition("Programmed", False, "Invalid", "no listener can be served")
    )
    return GatewayStatus(
        *gateway.key, gateway.metadata.generation, (accepted, programmed), tuple(listeners)
    )


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
