"""The Gateway API subset xdscp serves: Gateway listeners and HTTPRoutes to Services."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xdscp.model.base import KubeObject, Lenient


class Listener(Lenient):
    name: str
    port: int = Field(ge=1, le=65535)
    protocol: str
    hostname: str | None = None


class GatewaySpec(Lenient):
    gateway_class_name: str = ""
    listeners: tuple[Listener, ...] = Field(min_length=1)


class Gateway(KubeObject):
    GROUP = "gateway.networking.k8s.io"
    KIND = "Gateway"

    spec: GatewaySpec


class ParentRef(Lenient):
    name: str
    namespace: str | None = None
    section_name: str | None = None
    port: int | None = None


class PathMatch(Lenient):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"


class RouteMatch(Lenient):
    path: PathMatch = PathMatch()


class BackendRef(Lenient):
    group: str = ""
    kind: str = "Service"
    name: str
    namespace: str | None = None
    port: int | None = None
    weight: int = Field(default=1, ge=0)


class RouteRule(Lenient):
    matches: tuple[RouteMatch, ...] = (RouteMatch(),)
    backend_refs: tuple[BackendRef, ...] = ()


class HTTPRouteSpec(Lenient):
    parent_refs: tuple[ParentRef, ...] = ()
    hostnames: tuple[str, ...] = ()
    rules: tuple[RouteRule, ...] = (RouteRule(),)


class HTTPRoute(KubeObject):
    GROUP = "gateway.networking.k8s.io"
    KIND = "HTTPRoute"

    spec: HTTPRouteSpec
