"""Restarts on either side: Envoy ends with the same config and versions, and no extra updates."""

from __future__ import annotations

import signal

import pytest

from tests.live import Stack
from xdscp.demo.processes import wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]


def settled(stack: Stack) -> dict[str, str]:
    """Envoy's CDS stats once it has applied our clusters and serves traffic."""
    stack.wait_ok()
    return wait_for(
        lambda: s if (s := stack.cds_stats()).get("cluster_manager.cds.version_text") else None,
        20,
        "a CDS version in Envoy's stats",
    )


def test_envoy_restart_gets_the_same_versions(stack: Stack) -> None:
    before = settled(stack)
    assert stack.envoy is not None
    stack.envoy.stop()
    stack.start_envoy()
    after = settled(stack)
    assert after["cluster_manager.cds.version_text"] == before["cluster_manager.cds.version_text"]
    assert after["cluster_manager.cds.update_success"] == "1"  # one initial update, nothing more


def test_xdscp_restart_changes_nothing_on_envoy(stack: Stack) -> None:
    assert stack.xdscp is not None and stack.envoy is not None
    before = settled(stack)
    port = stack.xdscp.xds_port
    stack.xdscp.stop(signal.SIGKILL)
    stack.start_xdscp(xds_port=port)
    # Envoy reconnects and is served: the stream shows up in xdscp's per-node status, ACKed.
    wait_for(
        lambda: any(
            s["node_id"] == "gateway-1" and s["types"].get("cds", {}).get("acked")
            for s in stack.xdscp.get_json("/status")["streams"]  # type: ignore[union-attr]
        ),
        30,
        "Envoy to reconnect to the restarted xdscp",
    )
    after = settled(stack)
    assert after["cluster_manager.cds.version_text"] == before["cluster_manager.cds.version_text"]
    assert (
        after["cluster_manager.cds.update_success"] == before["cluster_manager.cds.update_success"]
    )
    assert (
        stack.envoy.stats("cluster_manager.cds.update_rejected")[
            "cluster_manager.cds.update_rejected"
        ]
        == "0"
    )
