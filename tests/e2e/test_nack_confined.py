"""A NACK is confined to the object behind it: Envoy refuses a route configuration, xdscp holds
that HTTPRoute back and says so, and every other change (to the same route configuration
too) keeps reaching Envoy, over state of the world and delta.

The refused input is one `xdscp validate` accepts and Envoy refuses: an HTTPRoute whose
RequestHeaderModifier sets Host (Envoy: ":-prefixed or host headers may not be modified").
If validation learns that rule, pick another such input: the test is about the NACK."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.files import replace
from tests.live import Stack
from xdscp.demo.processes import http_get, wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]


def host_setter(filters: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [{"name": "httpbin", "port": 8000}]}
    if filters:
        modifier = {"set": [{"name": "Host", "value": "www.example.com"}]}
        rule["filters"] = [{"type": "RequestHeaderModifier", "requestHeaderModifier": modifier}]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "host-setter", "namespace": "httpbin"},
        "spec": {
            "parentRefs": [{"name": "http", "namespace": "kgateway-system"}],
            "hostnames": ["setter.example.com"],
            "rules": [rule],
        },
    }


def status(stack: Stack, host: str) -> int | None:
    try:
        return http_get(stack.listener + "/get", headers={"Host": host})[0]
    except OSError:
        return None


def test_a_nacked_route_is_held_back_and_the_rest_flows(stack: Stack) -> None:
    server, envoy = stack.xdscp, stack.envoy
    assert server is not None and envoy is not None
    assert stack.wait_ok() == 200
    setter = stack.policies / "host-setter.yaml"
    setter.write_text(yaml.safe_dump(host_setter(filters=True)))

    def held() -> list[str] | None:
        problems: list[str] = server.get_json("/policies")["problems"]
        found = [p for p in problems if "HTTPRoute httpbin/host-setter" in p]
        return found or None

    (problem,) = wait_for(held, 30, "the refused route to be reported")
    assert "Envoy refused the rds it translates to" in problem, problem
    assert "host headers may not be modified" in problem, problem
    rejected = {k: v for k, v in envoy.stats().items() if k.endswith("update_rejected")}
    assert any(v != "0" for v in rejected.values()), rejected  # Envoy did refuse it
    assert http_get(server.admin + "/readyz")[0] == 503  # not the latest: someone should look
    stale = server.get_json("/status")["stale"]
    assert stale == "held at their last good version: HTTPRoute httpbin/host-setter", stale
    assert http_get(server.admin + "/readyz?exclude=stale")[0] == 200  # the chart's probe
    assert "xdscp_objects_held 1.0" in http_get(server.admin + "/metrics")[1].decode()

    # An unrelated change to the same route configuration reaches Envoy.
    gateway_file = stack.policies / "gateway.yaml"
    gateway, route = yaml.safe_load_all(gateway_file.read_text())
    route["spec"]["hostnames"].append("also.example.com")
    replace(gateway_file, yaml.safe_dump_all([gateway, route]))
    wait_for(lambda: status(stack, "also.example.com") == 200, 30, "the unrelated change")
    assert status(stack, "setter.example.com") == 404  # the held route is not served

    # Fixed, it is tried again and served.
    replace(setter, yaml.safe_dump(host_setter(filters=False)))
    wait_for(lambda: status(stack, "setter.example.com") == 200, 30, "the fixed route")
    assert server.get_json("/policies")["problems"] == []
    assert http_get(server.admin + "/readyz")[0] == 200
