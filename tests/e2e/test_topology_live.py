"""Localities reach a real Envoy and change where its requests go.

Two httpbin processes stand for two zones: zone-a's answers on 127.0.0.2-4, zone-b's on
127.0.0.5, all on one port (an EndpointSlice has one port list). Envoy runs the shipped
envoy/bootstrap-zone-aware.yaml: its node is in zone-a, its local cluster is xdscp_local, which
xdscp serves (--local-cluster) from the Envoys' own EndpointSlice: this Envoy in zone-a and a
peer in zone-b, an even spread like the upstreams'. Where requests went is read from Envoy's
per-host counters (/clusters), never from configuration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.files import replace_yaml
from tests.live import ROOT
from tests.processes import Envoy, Xdscp, free_port
from xdscp.demo.processes import Httpbin, bootstrap, http_get, wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]

NAMESPACE, SERVICE = "shop", "web"
CLUSTER = f"kube_{NAMESPACE}_{SERVICE}_80"
HOST = "shop.example.com"
ZONE_A, ZONE_B = ("127.0.0.2", "127.0.0.3", "127.0.0.4"), ("127.0.0.5",)
TIMEOUT = 30


@dataclass
class Topology:
    inputs: Path
    envoy: Envoy
    listener: str
    port: int  # where every upstream answers
    last: Any = None  # the hosts' health as last seen, for messages

    def write(self, name: str, *docs: dict[str, Any]) -> None:
        replace_yaml(self.inputs / name, *docs)

    def endpoints(self, *endpoints: dict[str, Any]) -> None:
        self.write("web-endpoints.yaml", endpoint_slice(SERVICE, self.port, endpoints))

    def policy(self, load_balancer: dict[str, Any] | None) -> None:
        if load_balancer is None:
            (self.inputs / "policy.yaml").unlink(missing_ok=True)
            return
        self.write("policy.yaml", policy(load_balancer))

    def hosts(self, cluster: str = CLUSTER) -> dict[str, dict[str, Any]]:
        """Envoy's hosts of a cluster by address: health and counters as /clusters shows them."""
        status, body = http_get(self.envoy.admin + "/clusters?format=json")
        assert status == 200
        for entry in json.loads(body)["cluster_statuses"]:
            if entry["name"] == cluster:
                return {
                    h["address"]["socket_address"]["address"]: h
                    for h in entry.get("host_statuses", ())
                }
        return {}

    def served(self) -> dict[str, int]:
        return {address: _stat(host, "rq_total") for address, host in self.hosts().items()}

    def wait_hosts(self, health: dict[str, str], what: str) -> None:
        def matching() -> bool:
            self.last = {a: h["health_status"] for a, h in self.hosts().items()}
            return {a: h.get("eds_health_status") for a, h in self.last.items()} == health

        try:
            wait_for(matching, TIMEOUT, what)
        except Exception as err:
            raise AssertionError(f"{err}; Envoy has {self.last}") from err

    def wait_cluster(self, check: Any, what: str) -> None:
        wait_for(lambda: check(self.envoy.dynamic_clusters().get(CLUSTER, {})), TIMEOUT, what)

    def send(self, count: int) -> dict[str, int]:
        """`count` requests through Envoy; how many each host got, by its own counter."""
        before = self.served()
        for _ in range(count):
            status, _ = http_get(self.listener + "/get", headers={"Host": HOST})
            assert status == 200
        after = self.served()
        return {address: after[address] - before.get(address, 0) for address in after}


def endpoint_slice(service: str, port: int, endpoints: tuple[dict[str, Any], ...]) -> Any:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-1",
            "namespace": NAMESPACE if service == SERVICE else "gateways",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port}],
        "endpoints": list(endpoints),
    }


def ready(address: str, zone: str) -> dict[str, Any]:
    return {"addresses": [address], "zone": zone, "conditions": {"ready": True}}


def terminating(address: str, zone: str) -> dict[str, Any]:
    conditions = {"ready": False, "serving": True, "terminating": True}
    return {"addresses": [address], "zone": zone, "conditions": conditions}


def policy(load_balancer: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "balance", "namespace": NAMESPACE},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": SERVICE}],
            "loadBalancer": load_balancer,
        },
    }


def gateway(listener_port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "envoy", "namespace": "gateways"},
            "spec": {
                "gatewayClassName": "kgateway",
                "listeners": [
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "port": listener_port,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {
                "parentRefs": [{"name": "envoy", "namespace": "gateways"}],
                "hostnames": [HOST],
                "rules": [{"backendRefs": [{"name": SERVICE, "port": 80}]}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        },
    ]


def _stat(host: dict[str, Any], name: str) -> int:
    return next((int(s.get("value", 0)) for s in host["stats"] if s["name"] == name), 0)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    port, listener_port = free_port(), free_port()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "gateway.yaml").write_text(yaml.safe_dump_all(gateway(listener_port)))
    # The Envoys' own Service: this one (zone-a) and a peer in zone-b, never sent anything.
    envoys = endpoint_slice("envoy", listener_port, (ready("127.0.0.1", "zone-a"),))
    envoys["endpoints"].append(ready("127.0.0.9", "zone-b"))
    (inputs / "envoys.yaml").write_text(yaml.safe_dump(envoys))
    (inputs / "web-endpoints.yaml").write_text(
        yaml.safe_dump(
            endpoint_slice(SERVICE, port, (ready(ZONE_A[0], "zone-a"), ready(ZONE_B[0], "zone-b")))
        )
    )
    started: list[Any] = []
    try:
        started.append(Httpbin(tmp_path, port, host=ZONE_A[0], also=ZONE_A[1:]))
        started.append(Httpbin(tmp_path, port, host=ZONE_B[0]))
        xdscp = Xdscp([inputs], tmp_path, extra=["--local-cluster", "gateways/envoy"])
        started.append(xdscp)
        config = bootstrap(ROOT / "envoy" / "bootstrap-zone-aware.yaml", xdscp.xds_port)
        envoy = Envoy(config, tmp_path)
        started.append(envoy)
        live = Topology(inputs, envoy, f"http://127.0.0.1:{listener_port}", port)
        wait_for(lambda: len(live.hosts("xdscp_local")) == 2, TIMEOUT, "the local cluster")
        live.wait_hosts({ZONE_A[0]: "HEALTHY", ZONE_B[0]: "HEALTHY"}, "one host per zone")
        yield live
    finally:
        for process in reversed(started):
            process.stop()


def zone_aware(cluster: dict[str, Any]) -> bool:
    return "zone_aware_lb_config" in json.dumps(cluster)


def test_prefer_local_keeps_requests_in_envoys_zone_and_without_it_both_zones_serve(
    topology: Topology,
) -> None:
    spread = topology.send(200)
    assert spread[ZONE_A[0]] >= 50 and spread[ZONE_B[0]] >= 50, spread

    topology.policy({"roundRobin": {}, "zoneAware": {"preferLocal": {"minEndpointsThreshold": 2}}})
    topology.wait_cluster(zone_aware, "the zoneAware policy in Envoy")
    local = topology.send(200)
    assert local[ZONE_A[0]] >= 190, local  # at least 95%; Envoy's own arithmetic gives 100%

    topology.policy(None)
    topology.wait_cluster(lambda c: c and not zone_aware(c), "the policy removed")
    again = topology.send(200)
    assert again[ZONE_B[0]] >= 50, again


def test_weighted_localities_split_by_ready_endpoints(topology: Topology) -> None:
    topology.endpoints(
        *(ready(address, "zone-a") for address in ZONE_A), ready(ZONE_B[0], "zone-b")
    )
    topology.policy({"roundRobin": {}, "localityType": "WeightedLb"})
    topology.wait_cluster(
        lambda c: "locality_weighted_lb_config" in json.dumps(c), "the WeightedLb policy"
    )
    topology.wait_hosts({a: "HEALTHY" for a in (*ZONE_A, *ZONE_B)}, "3 hosts in zone-a, 1 in b")

    served = topology.send(400)
    zone_a = sum(served[a] for a in ZONE_A)
    # Weights 3 and 1: Envoy's locality scheduler (earliest deadline first, one worker) keeps
    # the split within a request or two of 300:100. 5 points either way stays far from what a
    # wrong weight gives (equal weights: 50%; none: no traffic at all).
    assert 0.70 <= zone_a / 400 <= 0.80, served
    assert zone_a + served[ZONE_B[0]] == 400


def test_a_terminating_endpoint_drains(topology: Topology) -> None:
    # A slow request in flight on zone-b's host (the only one) when its pod starts terminating.
    topology.endpoints(ready(ZONE_B[0], "zone-b"))
    topology.wait_hosts({ZONE_B[0]: "HEALTHY"}, "zone-b's host alone")
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(
            http_get, topology.listener + "/delay/3", {"Host": HOST}, timeout=TIMEOUT
        )
        wait_for(lambda: _stat(topology.hosts()[ZONE_B[0]], "rq_active") == 1, TIMEOUT, "it")
        topology.endpoints(ready(ZONE_A[0], "zone-a"), terminating(ZONE_B[0], "zone-b"))
        topology.wait_hosts({ZONE_A[0]: "HEALTHY", ZONE_B[0]: "DRAINING"}, "zone-b DRAINING")

        served = topology.send(100)
        assert served == {ZONE_A[0]: 100, ZONE_B[0]: 0}
        status, _ = in_flight.result()
        assert status == 200  # begun before, finished on the draining host


def test_most_endpoints_draining_still_get_no_new_requests(topology: Topology) -> None:
    """3 of 4 draining: were they counted unhealthy, 25% healthy would be below Envoy's panic
    threshold (50%) and Envoy would spread requests over all four. Envoy leaves DRAINING hosts
    out of that count, so the one ready endpoint takes everything, as a rollout needs."""
    topology.endpoints(
        ready(ZONE_A[0], "zone-a"),
        *(terminating(address, "zone-a") for address in ZONE_A[1:]),
        terminating(ZONE_B[0], "zone-b"),
    )
    draining = {address: "DRAINING" for address in (*ZONE_A[1:], *ZONE_B)}
    topology.wait_hosts({ZONE_A[0]: "HEALTHY", **draining}, "3 of 4 hosts DRAINING")

    served = topology.send(100)
    assert served == {ZONE_A[0]: 100, **{address: 0 for address in draining}}
