"""The guide, end to end, against a live Envoy: over state of the world and over delta xDS."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.live import CLUSTER, Stack
from xdscp.demo.processes import wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]

GUIDE_KEEPALIVE = {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}


def keepalive(cluster: dict[str, Any]) -> dict[str, Any] | None:
    options: dict[str, Any] = cluster.get("upstream_connection_options", {})
    return options.get("tcp_keepalive")


def test_config_dump_shows_the_guides_cluster(stack: Stack) -> None:
    assert stack.envoy is not None
    stack.wait_cluster(lambda c: keepalive(c) is not None, "the keepalive cluster")
    # Exactly the guide's command: curl -X POST 127.0.0.1:19000/config_dump?include_eds
    request = urllib.request.Request(stack.envoy.admin + "/config_dump?include_eds", method="POST")
    with urllib.request.urlopen(request) as response:
        dump = json.load(response)
    clusters = next(s for s in dump["configs"] if s["@type"].endswith("ClustersConfigDump"))
    cluster = next(
        c["cluster"] for c in clusters["dynamic_active_clusters"] if c["cluster"]["name"] == CLUSTER
    )
    assert cluster["connect_timeout"] == "5s"
    assert cluster["upstream_connection_options"] == {"tcp_keepalive": GUIDE_KEEPALIVE}


def test_request_through_envoy_reaches_httpbin(stack: Stack) -> None:
    assert stack.wait_ok() == 200
    assert stack.get("/status/418") == 418  # httpbin answered, not Envoy


def test_policy_edit_delete_and_restore_reach_envoy(stack: Stack) -> None:
    stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the guide's keepalive")
    stack.write_policy(stack.policy_text().replace("keepAliveProbes: 3", "keepAliveProbes: 7"))
    stack.wait_cluster(
        lambda c: keepalive(c) == {**GUIDE_KEEPALIVE, "keepalive_probes": 7}, "probes 7"
    )
    (stack.policies / "httpbin-keepalive.yaml").unlink()
    removed = stack.wait_cluster(
        lambda c: "upstream_connection_options" not in c, "keepalive removed"
    )
    assert removed["connect_timeout"] == "5s"
    stack.write_policy(stack.policy_text())
    stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "keepalive restored")
    assert stack.wait_ok() == 200


BROKEN = {
    "bad YAML": ("tcpKeepalive:\n    keepAliveProbes: 3", "tcpKeepalive:\n  - keepAliveProbes: [3"),
    "fractional duration": ("keepAliveTime: 30s", "keepAliveTime: 1.5s"),
    "negative probes": ("keepAliveProbes: 3", "keepAliveProbes: -1"),
}


def test_broken_policy_is_reported_and_envoy_keeps_the_last_good_cluster(stack: Stack) -> None:
    server = stack.xdscp
    assert server is not None
    stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the guide's keepalive")
    expected = {
        "bad YAML": "invalid YAML (line",
        "fractional duration": 'keepAliveTime: Invalid value: "1.5s": invalid duration value',
        "negative probes": "spec.tcpKeepalive.keepAliveProbes: Invalid value: -1",
    }
    for case, (good, bad) in BROKEN.items():
        text = stack.policy_text()
        assert good in text, case
        stack.write_policy(text.replace(good, bad))

        def reported(case: str = case) -> list[str] | None:
            problems: list[str] = server.get_json("/policies")["problems"]
            return [p for p in problems if expected[case] in p] or None

        found = wait_for(reported, 20, f"xdscp to report the {case}")
        assert "httpbin-keepalive.yaml" in found[0], found
        assert keepalive(stack.cluster() or {}) == GUIDE_KEEPALIVE, case
        stack.write_policy(text)  # back to good before the next case
        wait_for(lambda: not server.get_json("/policies")["problems"], 20, "problems gone")
    assert stack.wait_ok() == 200
