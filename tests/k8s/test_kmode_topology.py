"""Topology in Kubernetes mode: Nodes and EndpointSlices on the API server, localities in Envoy.

The test's Nodes are objects only (no kubelet runs): what xdscp reads of them is their labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from xdscp.demo.processes import http_get, wait_for

from .apiserver import KubeCluster
from .kmode import TIMEOUT, Live, apply, serving

pytestmark = [pytest.mark.apiserver, pytest.mark.process]

REGION, ZONE = "topology.kubernetes.io/region", "topology.kubernetes.io/zone"


@pytest.fixture
def live(k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Any) -> Iterator[Live]:
    # Watching one namespace: Nodes, cluster-scoped, are still watched (once, cluster-wide).
    with serving(k8s_cluster, tmp_path, k8s_namespace, namespaces=(k8s_namespace,)) as live:
        yield live


def node(name: str, region: str, zone: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {REGION: region, ZONE: zone}},
    }


def web(namespace: str, *endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-1",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": list(endpoints),
    }
    return [service, endpoint_slice]


def hosts(live: Live, cluster: str) -> set[tuple[str, str, str, str]]:
    """(address, region, zone, EDS health) of each host Envoy holds, from /clusters: it shows
    the health as sent (config_dump would say UNHEALTHY for DRAINING)."""
    status, body = http_get(live.envoy.admin + "/clusters?format=json")
    assert status == 200
    return {
        (
            host["address"]["socket_address"]["address"],
            host.get("locality", {}).get("region", ""),
            host.get("locality", {}).get("zone", ""),
            host["health_status"].get("eds_health_status", ""),
        )
        for entry in json.loads(body)["cluster_statuses"]
        if entry["name"] == cluster
        for host in entry.get("host_statuses", ())
    }


def test_regions_come_from_nodes_and_zones_from_the_slice(
    live: Live, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    ns, cluster = k8s_namespace, f"kube_{k8s_namespace}_web_80"
    # Nodes and zones are cluster-wide: named after the test's namespace, they are its own.
    a1, zone_a, zone_b = f"{ns}-a1", f"{ns}-a", f"{ns}-b"
    apply(k8s_cluster, node(a1, "eu-west", zone_a))
    terminating = {"ready": False, "serving": True, "terminating": True}
    apply(
        k8s_cluster,
        *web(
            ns,
            {"addresses": ["10.1.0.1"], "zone": zone_a, "nodeName": a1},
            {"addresses": ["10.1.0.2"], "zone": zone_a, "conditions": terminating},
            {"addresses": ["10.2.0.1"], "zone": zone_b},
        ),
    )
    expected = {
        ("10.1.0.1", "eu-west", zone_a, "HEALTHY"),
        ("10.1.0.2", "eu-west", zone_a, "DRAINING"),
        ("10.2.0.1", "", zone_b, "HEALTHY"),
    }
    wait_for(lambda: hosts(live, cluster) == expected, TIMEOUT, f"{expected} in Envoy")

    # A Node appearing in zone b gives that zone its region too; a watch, not a restart.
    apply(k8s_cluster, node(f"{ns}-b1", "eu-west", zone_b))
    expected.remove(("10.2.0.1", "", zone_b, "HEALTHY"))
    expected.add(("10.2.0.1", "eu-west", zone_b, "HEALTHY"))
    wait_for(lambda: hosts(live, cluster) == expected, TIMEOUT, "zone b's region")
