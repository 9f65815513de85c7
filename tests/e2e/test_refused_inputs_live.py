"""Input Envoy would NACK is refused by xdscp, named by object and field, and never reaches
Envoy; every other update keeps flowing, over state of the world and delta."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.test_policy_dir_faults import probes
from tests.files import replace
from tests.live import CLUSTER, Stack
from xdscp.demo.processes import http_get, wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]


def route(name: str, match: dict[str, str], *weights: int) -> dict[str, object]:
    refs = [{"name": "httpbin", "port": 8000, "weight": w} for w in weights or (1,)]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "httpbin"},
        "spec": {
            "parentRefs": [{"name": "http", "namespace": "kgateway-system"}],
            "hostnames": ["bad.example.com"],
            "rules": [{"matches": [{"path": match}], "backendRefs": refs}],
        },
    }


def endpoint_slice(name: str, address_type: str, address: str) -> dict[str, object]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "httpbin",
            "labels": {"kubernetes.io/service-name": "httpbin"},
        },
        "addressType": address_type,
        "ports": [{"name": "http", "port": 8000}],
        "endpoints": [{"addresses": [address]}],
    }


BAD = [
    endpoint_slice("by-name", "FQDN", "httpbin.example.com"),
    endpoint_slice("not-an-ip", "IPv4", "httpbin.example.com"),
    route("lookahead", {"type": "RegularExpression", "value": "/(?=x)"}),
    route("query-in-prefix", {"type": "PathPrefix", "value": "/a?b"}),
    route("overflowing-weights", {"type": "PathPrefix", "value": "/"}, 4294967295, 4294967295),
    route("huge-weight", {"type": "PathPrefix", "value": "/"}, 4294967296),
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "httpbin_8000", "namespace": "httpbin"},
        "spec": {"ports": [{"port": 8000}]},
    },
]
EXPECTED = {
    "EndpointSlice httpbin/by-name: addressType",
    "EndpointSlice httpbin/not-an-ip: endpoints[0].addresses[0]",
    "HTTPRoute httpbin/lookahead: spec.rules[0].matches[0].path",
    "HTTPRoute httpbin/query-in-prefix: spec.rules[0].matches[0].path",
    "HTTPRoute httpbin/overflowing-weights: spec.rules[0].backendRefs[0].weight",
    "HTTPRoute httpbin/huge-weight: spec.rules[0].backendRefs[0].weight",
    "Service httpbin/httpbin_8000: metadata.name",
}


def members(stack: Stack) -> set[str]:
    assert stack.envoy is not None
    text = http_get(stack.envoy.admin + "/clusters")[1].decode()
    return {line.split("::")[1] for line in text.splitlines() if line.startswith(f"{CLUSTER}::")}


def rejected(stack: Stack) -> dict[str, str]:
    assert stack.envoy is not None
    stats = stack.envoy.stats()
    return {k: v for k, v in stats.items() if k.endswith("update_rejected") and v != "0"}


def test_what_envoy_would_refuse_is_reported_and_the_rest_flows(stack: Stack) -> None:
    server = stack.xdscp
    assert server is not None
    assert stack.wait_ok() == 200
    (stack.policies / "bad.yaml").write_text(yaml.safe_dump_all(BAD))

    def reported() -> list[str] | None:
        problems: list[str] = server.get_json("/policies")["problems"]
        found = {e for e in EXPECTED if any(e + ": " in p for p in problems)}
        return problems if found == EXPECTED else None

    wait_for(reported, 20, "every refused object to be reported")
    # Unrelated updates still reach Envoy: a policy (CDS) and an endpoint of the same Service
    # the refused slices name (EDS).
    probes(stack, 3)
    stack.write_policy(stack.policy_text().replace("Probes: 3", "Probes: 5"))
    probes(stack, 5)
    good = stack.policies / "httpbin-endpoints.yaml"
    slice_ = yaml.safe_load(good.read_text())
    port = slice_["ports"][0]["port"]
    slice_["endpoints"].append({"addresses": ["127.0.0.3"], "conditions": {"ready": True}})
    replace(good, yaml.safe_dump(slice_))
    wait_for(lambda: f"127.0.0.3:{port}" in members(stack), 20, "the new endpoint in Envoy")
    assert rejected(stack) == {}
    assert stack.wait_ok() == 200  # the listener and its route still serve
