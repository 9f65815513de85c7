"""The Gateway API subset xdscp serves: Gateway listeners, HTTPRoutes to Services, and the
ReferenceGrants that let a route reach a Service in another namespace.

Routes are read the way Gateway API's CRD validates them (enums, bounds, the cross-field
rules of its CEL), so a file xdscp accepts is one the API server accepts. Fields xdscp does
not implement are kept (`Open`), so the translator can say so on the route's status rather
than ignore them silently.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import re2
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from xdscp.model.base import ClusterMeta, KubeObject, Lenient
from xdscp.model.duration import DurationField
from xdscp.model.types import Port

GROUP = "gateway.networking.k8s.io"

# Gateway API's HTTPHeaderName: an RFC 7230 token, at most 256 characters.
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
]
HeaderValue = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
# Gateway API's PreciseHostname: a DNS name, no wildcard.
_HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
PreciseHostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=_HOSTNAME)]
# Gateway API's Hostname: a DNS name, optionally with a leading `*.`.
RouteHostname = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^(\*\.)?" + _HOSTNAME[1:])
]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
SectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
Path = Annotated[str, StringConstraints(max_length=1024, pattern=r"^/")]


# Envoy compiles regular expressions with RE2 and refuses a program larger than this (its
# `re2.max_program_size.error_level` default): Python's `re` would accept what Envoy NACKs.
RE2_MAX_PROGRAM_SIZE = 100
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# The CRD's CEL: the characters an Exact or PathPrefix path may hold (RFC 3986 pchar and '/').
_PATH_CHARACTERS = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"


def _check_regex(pattern: str) -> None:
    try:
        size = re2.compile(pattern, _RE2_OPTIONS).programsize
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise ValueError(f"not a valid RE2 regular expression: {reason}") from None
    if size > RE2_MAX_PROGRAM_SIZE:
        raise ValueError(
            f"RE2 program size {size} is more than Envoy's limit of {RE2_MAX_PROGRAM_SIZE}"
        )


def _unique(field: str, names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"{field}: names must be unique")


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


class Open(Lenient):
    """A block xdscp implements part of: the fields it does not know are kept, to be reported."""

    model_config = ConfigDict(extra="allow")

    @property
    def unsupported(self) -> tuple[str, ...]:
        return tuple(sorted(self.model_extra or ()))


class RouteNamespaces(Lenient):
    from_: Literal["All", "Same", "Selector"] = Field(default="Same", alias="from")
    selector: dict[str, object] | None = None


class RouteGroupKind(Lenient):
    group: str = GROUP
    kind: str


class AllowedRoutes(Lenient):
    namespaces: RouteNamespaces = RouteNamespaces()
    kinds: tuple[RouteGroupKind, ...] = Field(default=(), max_length=8)


class Listener(Lenient):
    name: SectionName
    port: Port
    protocol: str
    hostname: RouteHostname | None = None
    allowed_routes: AllowedRoutes = AllowedRoutes()


# Gateway API's LabelKey and AnnotationValue bounds, for spec.infrastructure.
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=253)]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]
AnnotationValue = Annotated[str, StringConstraints(max_length=4096)]


class ParametersReference(Lenient):
    """Gateway API's LocalParametersReference: an object in the Gateway's namespace."""

    group: str
    kind: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    name: ObjectName


class GatewayInfrastructure(Lenient):
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=8)
    annotations: dict[LabelKey, AnnotationValue] = Field(default_factory=dict, max_length=8)
    parameters_ref: ParametersReference | None = None


class GatewaySpec(Lenient):
    gateway_class_name: str = ""
    infrastructure: GatewayInfrastructure | None = None
    listeners: tuple[Listener, ...] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _unique_listener_names(self) -> GatewaySpec:
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names):
            raise ValueError("Listener name must be unique within the Gateway")
        return self


class Gateway(KubeObject):
    GROUP = GROUP
    KIND = "Gateway"

    spec: GatewaySpec


class GatewayClassSpec(Lenient):
    # Gateway API's GatewayController: a domain-prefixed path (`xdscp.dev/controller`).
    controller_name: Annotated[
        str,
        StringConstraints(
            min_length=1,
            max_length=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
            r"\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
        ),
    ]


class GatewayClass(KubeObject):
    """Which controller serves the Gateways that name it (cluster-scoped)."""

    GROUP = GROUP
    KIND = "GatewayClass"
    NAMESPACED = False

    metadata: ClusterMeta
    spec: GatewayClassSpec


class ParentRef(Lenient):
    group: str = GROUP
    kind: str = "Gateway"
    name: ObjectName
    namespace: str | None = None
    section_name: SectionName | None = None
    port: Port | None = None


class PathMatch(Lenient):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: Annotated[str, StringConstraints(max_length=1024)] = "/"

    @model_validator(mode="after")
    def _valid_path(self) -> PathMatch:
        # The CRD's CEL: Exact and PathPrefix values are absolute paths without `//`, `/./`,
        # `/../`, `%2f`, `%2F` or `#` (what would make two paths mean one).
        if self.type == "RegularExpression":
            _check_regex(self.value)
            return self
        if not self.value.startswith("/"):
            raise ValueError(
                "value must be an absolute path and start with '/' when type one of "
                "['Exact', 'PathPrefix']"
            )
        for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
            if bad in self.value:
                raise ValueError(
                    f"value must not contain {bad!r} when type one of ['Exact', 'PathPrefix']"
                )
        if self.value.endswith(("/..", "/.")):
            raise ValueError(
                "value must not end with '/..' or '/.' when type one of ['Exact', 'PathPrefix']"
            )
        if not re.fullmatch(_PATH_CHARACTERS, self.value):
            raise ValueError(
                f"must only contain valid characters (matching {_PATH_CHARACTERS}) for types "
                "['Exact', 'PathPrefix']"
            )
        return self


class HeaderMatch(Lenient):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: Annotated[str, StringConstraints(min_length=1, max_length=4096)]

    @model_validator(mode="after")
    def _valid_regex(self) -> HeaderMatch:
        if self.type == "RegularExpression":
            _check_regex(self.value)
        return self


class QueryParamMatch(HeaderMatch):
    pass


Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class RouteMatch(Open):
    path: PathMatch = PathMatch()
    headers: tuple[HeaderMatch, ...] = Field(default=(), max_length=16)
    query_params: tuple[QueryParamMatch, ...] = Field(default=(), max_length=16)
    method: Method | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> RouteMatch:
        _unique("headers", [h.name.lower() for h in self.headers])
        _unique("queryParams", [q.name for q in self.query_params])
        return self


class HeaderValuePair(Lenient):
    name: HeaderName
    value: Annotated[str, StringConstraints(max_length=4096)]


class HeaderModifier(Lenient):
    set: tuple[HeaderValuePair, ...] = Field(default=(), max_length=16)
    add: tuple[HeaderValuePair, ...] = Field(default=(), max_length=16)
    remove: tuple[HeaderName, ...] = Field(default=(), max_length=16)

    @model_validator(mode="after")
    def _unique_names(self) -> HeaderModifier:
        _unique("set", [h.name.lower() for h in self.set])
        _unique("add", [h.name.lower() for h in self.add])
        _unique("remove", [h.lower() for h in self.remove])
        return self


class PathModifier(Lenient):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replace_full_path: Annotated[str, StringConstraints(max_length=1024)] | None = None
    replace_prefix_match: Annotated[str, StringConstraints(max_length=1024)] | None = None

    @model_validator(mode="after")
    def _one_for_its_type(self) -> PathModifier:
        # The CRD's CEL, worded as it words it.
        if (self.replace_full_path is not None) != (self.type == "ReplaceFullPath"):
            raise ValueError(
                "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
            )
        if (self.replace_prefix_match is not None) != (self.type == "ReplacePrefixMatch"):
            raise ValueError(
                "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"
            )
        return self


class RequestRedirect(Lenient):
    scheme: Literal["http", "https"] | None = None
    hostname: PreciseHostname | None = None
    path: PathModifier | None = None
    port: Port | None = None
    status_code: Literal[301, 302] = 302


class URLRewrite(Lenient):
    hostname: PreciseHostname | None = None
    path: PathModifier | None = None


FILTER_FIELDS = {
    "RequestHeaderModifier": "request_header_modifier",
    "ResponseHeaderModifier": "response_header_modifier",
    "RequestRedirect": "request_redirect",
    "URLRewrite": "url_rewrite",
    "RequestMirror": "request_mirror",
    "ExtensionRef": "extension_ref",
}


class RouteFilter(Open):
    """One filter; the types xdscp implements have their block typed, the others are reported."""

    type: Annotated[str, StringConstraints(min_length=1)]
    request_header_modifier: HeaderModifier | None = None
    response_header_modifier: HeaderModifier | None = None
    request_redirect: RequestRedirect | None = None
    url_rewrite: URLRewrite | None = None

    @model_validator(mode="after")
    def _block_matches_type(self) -> RouteFilter:
        # The CRD's CEL: a filter's block is set exactly when its type names it.
        for kind, field in FILTER_FIELDS.items():
            present = getattr(self, field, None) is not None or _camel(field) in (
                self.model_extra or {}
            )
            if present != (self.type == kind):
                raise ValueError(
                    f"filter.{_camel(field)} must be {'specified' if self.type == kind else 'nil'}"
                    f" for {self.type} filter.type"
                )
        return self


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


class GrantFrom(Lenient):
    group: str
    kind: str
    namespace: ObjectName


class GrantTo(Lenient):
    group: str
    kind: str
    name: ObjectName | None = None


class ReferenceGrantSpec(Lenient):
    from_: tuple[GrantFrom, ...] = Field(alias="from", min_length=1, max_length=16)
    to: tuple[GrantTo, ...] = Field(min_length=1, max_length=16)


class ReferenceGrant(KubeObject):
    """Lets objects in other namespaces (`from`) refer to objects in this one (`to`)."""

    GROUP = GROUP
    KIND = "ReferenceGrant"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1beta1", "v1")

    spec: ReferenceGrantSpec

    def permits(
        self, group: str, kind: str, namespace: str, to_group: str, to_kind: str, name: str
    ) -> bool:
        """Whether a `kind` in `namespace` may refer to the `to_kind` `name` in this namespace."""
        return any(
            (f.group, f.kind, f.namespace) == (group, kind, namespace) for f in self.spec.from_
        ) and any(
            (t.group, t.kind) == (to_group, to_kind) and t.name in (None, name)
            for t in self.spec.to
        )
