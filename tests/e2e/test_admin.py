"""What a platform team debugs with: per-node status, NACKs, metrics, `xdscp status`."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.live import Stack
from xdscp.demo.processes import http_get, wait_for
from xdscp.resourcetypes import SHORT_NAMES

pytestmark = [pytest.mark.envoy, pytest.mark.process]

# Every type the guide uses: it names no Secret, so Envoy never asks for SDS.
TYPES = tuple(short for short in SHORT_NAMES.values() if short != "sds")


def envoy_stream(stack: Stack) -> dict[str, Any] | None:
    assert stack.xdscp is not None
    streams = stack.xdscp.get_json("/status")["streams"]
    return next((s for s in streams if s["node_id"] == "gateway-1"), None)


def all_acked(stack: Stack) -> dict[str, Any] | None:
    stream = envoy_stream(stack)
    if stream and all(stream["types"].get(t, {}).get("acked") for t in TYPES):
        return stream
    return None


def test_status_shows_what_envoy_acked(stack: Stack) -> None:
    stack.wait_ok()
    stream = wait_for(lambda: all_acked(stack), 20, "Envoy to ACK every type")
    assert stream["variant"] == ("delta" if stack.delta else "sotw")
    assert stream["node_cluster"] == "kgateway-system.http"
    assert stack.xdscp is not None
    table = subprocess.run(
        [sys.executable, "-m", "xdscp", "status", "--admin", stack.xdscp.admin],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(line for line in table.splitlines() if line.startswith("gateway-1"))
    assert row.count("ACKED") == 4, table


def test_nacked_route_is_reported_counted_and_not_resent(stack: Stack) -> None:
    assert stack.xdscp is not None
    wait_for(lambda: all_acked(stack), 20, "Envoy to ACK every type")
    gateway_file = stack.policies / "gateway.yaml"
    gateway, route = yaml.safe_load_all(gateway_file.read_text())
    # Setting Host with a RequestHeaderModifier: Gateway API allows it (so xdscp does), Envoy
    # rejects the route configuration (":-prefixed or host headers may not be modified").
    modifier = {"set": [{"name": "Host", "value": "www.example.com"}]}
    route["spec"]["rules"][0]["filters"] = [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": modifier}
    ]
    gateway_file.write_text(yaml.safe_dump_all([gateway, route]))

    def nacked() -> dict[str, Any] | None:
        stream = envoy_stream(stack)
        rds = stream["types"]["rds"] if stream else {}
        return rds if rds.get("nacks") else None

    rds = wait_for(nacked, 20, "Envoy to NACK the route")
    assert rds["nacked"] and rds["nacked"] != rds["acked"]
    assert "host headers may not be modified" in rds["error"], rds["error"]
    # Another change goes through, and the rejected routes are not pushed again with it (the
    # route is held at its last good version: tests/e2e/test_nack_confined.py).
    stack.write_policy(stack.policy_text().replace("keepAliveProbes: 3", "keepAliveProbes: 9"))
    stack.wait_cluster(
        lambda c: (
            c.get("upstream_connection_options", {})
            .get("tcp_keepalive", {})
            .get("keepalive_probes")
            == 9
        ),
        "the next change to reach Envoy",
    )
    stream = wait_for(lambda: all_acked(stack), 20, "the change to be ACKed")
    assert stream["types"]["rds"]["acked"] != rds["nacked"]
    assert stream["types"]["rds"]["nacks"] == 1
    metrics = http_get(stack.xdscp.admin + "/metrics")[1].decode()
    assert 'xdscp_nacks_total{type="rds"} 1.0' in metrics
    variant = "delta" if stack.delta else "sotw"
    assert f'xdscp_streams_open{{variant="{variant}"}} 1.0' in metrics
