"""HTTPRoute filters and timeouts on an Envoy Route: header modifiers, redirects, rewrites.

Only the filter types xdscp implements reach here (routes.py reports and drops the others).
"""

from __future__ import annotations

import re

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2

from xdscp.model.httproute import RouteRule
from xdscp.model.routefilter import HeaderModifier, PathModifier, RequestRedirect
from xdscp.translate import protos

SUPPORTED = frozenset(
    {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"}
)
_SET = base_pb2.HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD
_ADD = base_pb2.HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD
_WELL_KNOWN_PORTS = {"http": 80, "https": 443}
_REDIRECT_CODES = {
    301: rc.RedirectAction.RedirectResponseCode.MOVED_PERMANENTLY,
    302: rc.RedirectAction.RedirectResponseCode.FOUND,
}


def redirect_of(rule: RouteRule) -> RequestRedirect | None:
    return next((f.request_redirect for f in rule.filters if f.request_redirect), None)


def apply_filters(envoy: rc.Route, rule: RouteRule, prefix: str | None) -> None:
    """`envoy` has its action (route or redirect) already; `prefix` is the rule's PathPrefix
    match, what ReplacePrefixMatch replaces."""
    for f in rule.filters:
        if f.request_header_modifier:
            _modify(
                f.request_header_modifier,
                envoy.request_headers_to_add,
                envoy.request_headers_to_remove,
            )
        if f.response_header_modifier:
            _modify(
                f.response_header_modifier,
                envoy.response_headers_to_add,
                envoy.response_headers_to_remove,
            )
        if f.request_redirect:
            _redirect(envoy.redirect, f.request_redirect, prefix)
        # A rewrite belongs to a route to backends; one that answers 500 itself has none.
        if f.url_rewrite and envoy.HasField("route"):
            if f.url_rewrite.hostname:
                envoy.route.host_rewrite_literal = f.url_rewrite.hostname
            if f.url_rewrite.path:
                _rewrite_path(envoy.route, f.url_rewrite.path, prefix)
    timeouts = rule.timeouts
    if timeouts and envoy.HasField("route"):
        if timeouts.request is not None:
            envoy.route.timeout.CopyFrom(protos.duration(timeouts.request))
        if timeouts.backend_request is not None:
            envoy.route.retry_policy.per_try_timeout.CopyFrom(
                protos.duration(timeouts.backend_request)
            )


def _modify(modifier: HeaderModifier, add: object, remove: object) -> None:
    to_add: list[base_pb2.HeaderValueOption] = [
        *(_header(h.name, h.value, _SET) for h in modifier.set),
        *(_header(h.name, h.value, _ADD) for h in modifier.add),
    ]
    add.extend(to_add)  # type: ignore[attr-defined]
    remove.extend(modifier.remove)  # type: ignore[attr-defined]


def _header(
    name: str, value: str, action: base_pb2.HeaderValueOption.HeaderAppendAction.ValueType
) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, value=value), append_action=action
    )


def _redirect(action: rc.RedirectAction, redirect: RequestRedirect, prefix: str | None) -> None:
    action.response_code = _REDIRECT_CODES[redirect.status_code]
    if redirect.scheme:
        action.scheme_redirect = redirect.scheme
    if redirect.hostname:
        action.host_redirect = redirect.hostname
    # Gateway API: no port but a scheme means the scheme's well-known port.
    port = redirect.port or (_WELL_KNOWN_PORTS[redirect.scheme] if redirect.scheme else None)
    if port:
        action.port_redirect = port
    if redirect.path is None:
        return
    if redirect.path.type == "ReplaceFullPath":
        action.path_redirect = redirect.path.replace_full_path or "/"
    else:
        _replace_prefix(action, redirect.path, prefix)


def _rewrite_path(action: rc.RouteAction, path: PathModifier, prefix: str | None) -> None:
    if path.type == "ReplaceFullPath":
        action.regex_rewrite.pattern.regex = "^/.*$"
        action.regex_rewrite.substitution = path.replace_full_path or "/"
    else:
        _replace_prefix(action, path, prefix)


def _replace_prefix(
    action: rc.RouteAction | rc.RedirectAction, path: PathModifier, prefix: str | None
) -> None:
    """Gateway API replaces whole segments: with prefix /foo, /foo/bar becomes /bar when the
    replacement is "/", not //bar (what a plain prefix rewrite would make of it)."""
    replacement = (path.replace_prefix_match or "/").rstrip("/")
    matched = (prefix or "/").rstrip("/")
    if replacement:
        action.prefix_rewrite = replacement
        if not matched:  # the prefix "/" is every path: the replacement goes before it
            action.prefix_rewrite = replacement + "/"
        return
    action.regex_rewrite.CopyFrom(
        regex_pb2.RegexMatchAndSubstitute(
            pattern=regex_pb2.RegexMatcher(regex=f"^{re.escape(matched)}/*"), substitution="/"
        )
    )
