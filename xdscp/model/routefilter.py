"""An HTTPRoute rule's filters. The types xdscp implements have their block typed; the others
are kept (`Open`) so the route's status can name them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from xdscp.model.base import Lenient
from xdscp.model.gatewayapi import HeaderName, Open, PreciseHostname, camel, unique
from xdscp.model.types import Port


class HeaderValuePair(Lenient):
    name: HeaderName
    value: Annotated[str, StringConstraints(max_length=4096)]


class HeaderModifier(Lenient):
    set: tuple[HeaderValuePair, ...] = Field(default=(), max_length=16)
    add: tuple[HeaderValuePair, ...] = Field(default=(), max_length=16)
    remove: tuple[HeaderName, ...] = Field(default=(), max_length=16)

    @model_validator(mode="after")
    def _unique_names(self) -> HeaderModifier:
        unique("set", [h.name.lower() for h in self.set])
        unique("add", [h.name.lower() for h in self.add])
        unique("remove", [h.lower() for h in self.remove])
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
            present = getattr(self, field, None) is not None or camel(field) in (
                self.model_extra or {}
            )
            if present != (self.type == kind):
                raise ValueError(
                    f"filter.{camel(field)} must be {'specified' if self.type == kind else 'nil'}"
                    f" for {self.type} filter.type"
                )
        return self
