"""HTTPRoute and ReferenceGrant as Gateway API's CRD validates them, and what is kept to report."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from xdscp.model.gateway import GatewaySpec
from xdscp.model.httproute import HTTPRoute, RouteRule
from xdscp.model.referencegrant import ReferenceGrant


def route(*rules: dict[str, Any]) -> HTTPRoute:
    return HTTPRoute.model_validate(
        {
            "metadata": {"name": "r", "namespace": "apps"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": list(rules)},
        }
    )


def test_core_matches_and_filters_are_read() -> None:
    rule = route(
        {
            "matches": [
                {
                    "path": {"type": "Exact", "value": "/get"},
                    "headers": [{"name": "X-Env", "value": "canary"}],
                    "queryParams": [{"type": "RegularExpression", "name": "v", "value": "^2"}],
                    "method": "GET",
                }
            ],
            "filters": [
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {
                        "set": [{"name": "X-A", "value": "1"}],
                        "remove": ["X-B"],
                    },
                },
                {"type": "URLRewrite", "urlRewrite": {"hostname": "internal.example"}},
            ],
            "backendRefs": [{"name": "httpbin", "port": 8000}],
            "timeouts": {"request": "10s", "backendRequest": "2s"},
        }
    ).spec.rules[0]
    match = rule.matches[0]
    assert (match.path.type, match.headers[0].type, match.method) == ("Exact", "Exact", "GET")
    assert rule.filters[0].request_header_modifier is not None
    assert rule.filters[1].url_rewrite is not None
    assert rule.timeouts is not None and rule.timeouts.request is not None
    assert rule.timeouts.request.millis == 10_000
    assert rule.unsupported == () and rule.filters[0].unsupported == ()


def test_fields_xdscp_does_not_implement_are_kept_to_be_reported() -> None:
    rule = route(
        {
            "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "m"}}}],
            "sessionPersistence": {"sessionName": "s"},
            "backendRefs": [{"name": "b", "port": 80, "filters": []}],
        }
    ).spec.rules[0]
    assert rule.unsupported == ("sessionPersistence",)
    assert rule.filters[0].type == "RequestMirror"
    assert rule.filters[0].unsupported == ("requestMirror",)
    assert rule.backend_refs[0].unsupported == ("filters",)


BAD_RULES = {
    "redirect with backends": (
        {
            "filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 301}}],
            "backendRefs": [{"name": "b", "port": 80}],
        },
        "RequestRedirect filter must not be used together with backendRefs",
    ),
    "redirect and rewrite": (
        {
            "filters": [
                {"type": "RequestRedirect", "requestRedirect": {}},
                {"type": "URLRewrite", "urlRewrite": {}},
            ]
        },
        "but not both",
    ),
    "filter block of another type": (
        {"filters": [{"type": "URLRewrite", "requestRedirect": {}}]},
        "filter.requestRedirect must be nil",
    ),
    "filter without its block": (
        {"filters": [{"type": "RequestHeaderModifier"}]},
        "filter.requestHeaderModifier must be specified",
    ),
    "prefix rewrite without prefix match": (
        {
            "matches": [{"path": {"type": "Exact", "value": "/a"}}],
            "filters": [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {
                        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/b"}
                    },
                }
            ],
        },
        "exactly one PathPrefix match must be specified",
    ),
    "path modifier mismatch": (
        {
            "filters": [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {"path": {"type": "ReplaceFullPath", "replacePrefixMatch": "/"}},
                }
            ]
        },
        "replaceFullPath must be specified",
    ),
    "bad method": ({"matches": [{"method": "get"}]}, "method"),
    "bad header name": ({"matches": [{"headers": [{"name": "a b", "value": "x"}]}]}, "name"),
    "duplicate header match": (
        {"matches": [{"headers": [{"name": "A", "value": "1"}, {"name": "a", "value": "2"}]}]},
        "names must be unique",
    ),
    "relative path": ({"matches": [{"path": {"value": "foo"}}]}, "must be an absolute path"),
    "dot segment": ({"matches": [{"path": {"value": "/a/../b"}}]}, "must not contain"),
    "bad regex": (
        {"matches": [{"path": {"type": "RegularExpression", "value": "(("}}]},
        "not a valid RE2 regular expression",
    ),
    "redirect status": (
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 307}}]},
        "statusCode",
    ),
    "service without port": ({"backendRefs": [{"name": "b"}]}, "Must have port"),
    "backend timeout longer": (
        {"timeouts": {"request": "1s", "backendRequest": "2s"}},
        "cannot be longer than request timeout",
    ),
    "bad timeout": ({"timeouts": {"request": "1.5s"}}, "invalid duration"),
}


@pytest.mark.parametrize("case", BAD_RULES)
def test_what_the_crd_refuses_is_refused(case: str) -> None:
    rule, message = BAD_RULES[case]
    with pytest.raises(ValidationError, match=message):
        RouteRule.model_validate(rule)


def test_listener_names_are_unique() -> None:
    listener = {"name": "http", "port": 80, "protocol": "HTTP"}
    with pytest.raises(ValidationError, match="Listener name must be unique"):
        GatewaySpec.model_validate({"listeners": [listener, {**listener, "port": 81}]})


def test_reference_grant_permits_what_it_names() -> None:
    grant = ReferenceGrant.model_validate(
        {
            "metadata": {"name": "g", "namespace": "backends"},
            "spec": {
                "from": [
                    {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}
                ],
                "to": [{"group": "", "kind": "Service", "name": "httpbin"}],
            },
        }
    )
    route_kind = ("gateway.networking.k8s.io", "HTTPRoute")
    assert grant.permits(*route_kind, "apps", "", "Service", "httpbin")
    assert not grant.permits(*route_kind, "other", "", "Service", "httpbin")
    assert not grant.permits(*route_kind, "apps", "", "Service", "other")
    assert not grant.permits(
        "gateway.networking.k8s.io", "GRPCRoute", "apps", "", "Service", "httpbin"
    )
