"""HTTPRoutes: the Gateways they attach to, and rules of matches, filters and backendRefs to
Services. Fields xdscp does not implement are kept (`Open`), so the translator can say so on
the route's status rather than ignore them silently."""

from __future__ import annotations

from pydantic import Field, model_validator

from xdscp.model.base import KubeObject, Lenient
from xdscp.model.duration import DurationField
from xdscp.model.gatewayapi import GROUP, ObjectName, Open, RouteHostname, SectionName
from xdscp.model.routefilter import RouteFilter
from xdscp.model.routematch import RouteMatch
from xdscp.model.types import Port


class ParentRef(Lenient):
    group: str = GROUP
    kind: str = "Gateway"
    name: ObjectName
    namespace: str | None = None
    section_name: SectionName | None = None
    port: Port | None = None


class BackendRef(Open):
    group: str = ""
    kind: str = "Service"
    name: ObjectName
    namespace: str | None = None
    port: Port | None = None
    weight: int = Field(default=1, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _service_needs_port(self) -> BackendRef:
        if (self.group, self.kind) == ("", "Service") and self.port is None:
            raise ValueError("Must have port for Service reference")
        return self


class RouteTimeouts(Lenient):
    request: DurationField | None = None
    backend_request: DurationField | None = None

    @model_validator(mode="after")
    def _backend_within_request(self) -> RouteTimeouts:
        request, backend = self.request, self.backend_request
        if request and backend and request.millis and backend.millis > request.millis:
            raise ValueError("backendRequest timeout cannot be longer than request timeout")
        return self


class RouteRule(Open):
    name: SectionName | None = None
    matches: tuple[RouteMatch, ...] = Field(default=(RouteMatch(),), max_length=64)
    filters: tuple[RouteFilter, ...] = Field(default=(), max_length=16)
    backend_refs: tuple[BackendRef, ...] = Field(default=(), max_length=16)
    timeouts: RouteTimeouts | None = None

    @model_validator(mode="after")
    def _filter_rules(self) -> RouteRule:
        # The CRD's CEL on a rule's filters.
        types = [f.type for f in self.filters]
        for once in (
            "RequestHeaderModifier",
            "ResponseHeaderModifier",
            "URLRewrite",
            "RequestRedirect",
        ):
            if types.count(once) > 1:
                raise ValueError(f"{once} filter cannot be repeated")
        if "RequestRedirect" in types and "URLRewrite" in types:
            raise ValueError(
                "May specify either httpRouteFilterRequestRedirect or "
                "httpRouteFilterRequestRewrite, but not both"
            )
        if "RequestRedirect" in types and self.backend_refs:
            raise ValueError("RequestRedirect filter must not be used together with backendRefs")
        prefix_rewrite = any(
            (m := f.request_redirect or f.url_rewrite) is not None
            and m.path is not None
            and m.path.type == "ReplacePrefixMatch"
            for f in self.filters
        )
        if prefix_rewrite and (len(self.matches) != 1 or self.matches[0].path.type != "PathPrefix"):
            raise ValueError(
                "When using URLRewrite or RequestRedirect filter with path.replacePrefixMatch, "
                "exactly one PathPrefix match must be specified"
            )
        return self


class HTTPRouteSpec(Lenient):
    parent_refs: tuple[ParentRef, ...] = Field(default=(), max_length=32)
    hostnames: tuple[RouteHostname, ...] = Field(default=(), max_length=16)
    rules: tuple[RouteRule, ...] = Field(default=(RouteRule(),), max_length=16)


class HTTPRoute(KubeObject):
    GROUP = GROUP
    KIND = "HTTPRoute"

    spec: HTTPRouteSpec
