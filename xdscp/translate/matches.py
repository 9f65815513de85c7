"""An HTTPRoute match (path, headers, query parameters, method) as an Envoy RouteMatch."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from xdscp.model.routematch import HeaderMatch, PathMatch, RouteMatch

METHOD = ":method"


def route_match(match: RouteMatch) -> rc.RouteMatch:
    envoy = _path_match(match.path)
    for header in match.headers:
        envoy.headers.add(name=header.name, string_match=_string_match(header))
    if match.method:
        envoy.headers.add(name=METHOD, string_match=string_pb2.StringMatcher(exact=match.method))
    for param in match.query_params:
        envoy.query_parameters.add(name=param.name, string_match=_string_match(param))
    return envoy


def _string_match(match: HeaderMatch) -> string_pb2.StringMatcher:
    if match.type == "RegularExpression":
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.value))
    return string_pb2.StringMatcher(exact=match.value)


def _path_match(path: PathMatch) -> rc.RouteMatch:
    if path.type == "Exact":
        return rc.RouteMatch(path=path.value)
    if path.type == "RegularExpression":
        return rc.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex=path.value))
    if path.value.rstrip("/") == "":
        return rc.RouteMatch(prefix="/")
    # Gateway API prefixes match whole segments: /foo matches /foo and /foo/bar, not /foobar.
    return rc.RouteMatch(path_separated_prefix=path.value.rstrip("/"))


def precedence(route: rc.Route) -> tuple[int, int, int, int, int]:
    """Gateway API's order among matches: an exact path, then the longest prefix, then regular
    expressions; then a method match; then more header matches; then more query matches."""
    match = route.match
    if match.path:
        kind, length = 0, len(match.path)
    elif match.path_separated_prefix or match.prefix:
        kind, length = 1, len(match.path_separated_prefix or match.prefix)
    else:
        kind, length = 2, 0
    method = any(h.name == METHOD for h in match.headers)
    headers = sum(1 for h in match.headers if h.name != METHOD)
    return (kind, -length, 0 if method else 1, -headers, -len(match.query_parameters))
