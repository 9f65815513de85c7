"""ClusterLoadAssignments from EndpointSlices: the serving addresses behind each Service port,
grouped by locality, with each endpoint's health as its conditions say.

A locality is the endpoint's zone (else its Node's zone label), the region of that zone's Nodes
and the subzone of the endpoint's own Node. Its weight is the number of ready endpoints in it,
so that locality-weighted balancing spreads requests evenly over ready endpoints, as Istio's
weights do; a locality with only draining endpoints gets no weight, hence no new requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from xdscp.model.node import REGION, SUBZONE, ZONE, Node
from xdscp.model.resources import Key
from xdscp.model.service import Endpoint, EndpointSlice, Health, ServicePort
from xdscp.translate import protos

_ENVOY_HEALTH = {
    Health.READY: health_check_pb2.HealthStatus.HEALTHY,
    Health.DRAINING: health_check_pb2.HealthStatus.DRAINING,
}


@dataclass(frozen=True, order=True)
class Locality:
    region: str = ""
    zone: str = ""
    subzone: str = ""


class Topology:
    """Where endpoints run, from the Nodes xdscp may read (none: localities carry zones only)."""

    def __init__(self, nodes: Mapping[Key, Node]) -> None:
        self._nodes = {node.metadata.name: node for node in nodes.values()}
        regions: dict[str, set[str]] = defaultdict(set)
        for node in self._nodes.values():
            if node.label(ZONE) and node.label(REGION):
                regions[node.label(ZONE)].add(node.label(REGION))
        # A zone lies in one region; should Nodes disagree, the first name wins, every time.
        self._regions = {zone: min(names) for zone, names in regions.items()}

    def moved(self, before: Topology) -> set[Place]:
        """Where endpoints may have another locality than under `before`: each Node added,
        removed or relabelled, and each zone given another region (with its Nodes)."""
        nodes = {
            name
            for name in self._nodes.keys() | before._nodes.keys()
            if self._nodes.get(name) is not before._nodes.get(name)
        }
        zones = {
            zone
            for zone in self._regions.keys() | before._regions.keys()
            if self._regions.get(zone) != before._regions.get(zone)
        }
        for topology in (self, before):
            nodes.update(n for n, node in topology._nodes.items() if node.label(ZONE) in zones)
        return {("node", n) for n in nodes} | {("zone", z) for z in zones}

    def locality(self, endpoint: Endpoint) -> Locality:
        node = self._nodes.get(endpoint.node_name or "")
        zone = endpoint.zone or (node.label(ZONE) if node else "")
        region = (node.label(REGION) if node else "") or self._regions.get(zone, "")
        return Locality(region, zone, node.label(SUBZONE) if node else "")


NO_NODES = Topology({})
# What an endpoint's locality depends on: its Node ("node", name), its zone ("zone", zone).
Place = tuple[str, str]


def places(endpoint_slice: EndpointSlice) -> set[Place]:
    """The Nodes and zones the slice's endpoints name."""
    found: set[Place] = set()
    for endpoint in endpoint_slice.endpoints:
        if endpoint.node_name:
            found.add(("node", endpoint.node_name))
        if endpoint.zone:
            found.add(("zone", endpoint.zone))
    return found


def load_assignment(
    cluster_name: str,
    port: ServicePort | None,
    slices: Iterable[EndpointSlice],
    topology: Topology = NO_NODES,
) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoint ports are matched to the Service port by name, as kube-proxy does; with no
    port (a local cluster lists where proxies run, not what they serve) each slice's first."""
    chosen: dict[tuple[str, int], tuple[Health, Locality]] = {}
    for endpoint_slice in slices:
        target = _target_port(endpoint_slice, port)
        if target is None:
            continue
        for endpoint in endpoint_slice.endpoints:
            health = endpoint.health
            if health is Health.OUT:
                continue
            locality = topology.locality(endpoint)
            for address in endpoint.addresses:
                # One address in two slices (as while slices are rebalanced): the readier wins.
                seen = chosen.get((address, target))
                if seen is None or (seen[0], health) == (Health.DRAINING, Health.READY):
                    chosen[(address, target)] = (health, locality)
    by_locality: dict[Locality, list[tuple[str, int, Health]]] = defaultdict(list)
    for (address, target), (health, locality) in sorted(chosen.items()):
        by_locality[locality].append((address, target, health))
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster_name,
        endpoints=[_group(locality, by_locality[locality]) for locality in sorted(by_locality)],
    )


def _target_port(endpoint_slice: EndpointSlice, port: ServicePort | None) -> int | None:
    if port is None:
        return next((p.port for p in endpoint_slice.ports if p.port is not None), 0)
    return next((p.port for p in endpoint_slice.ports if (p.name or "") == port.name), None)


def _group(
    locality: Locality, endpoints: list[tuple[str, int, Health]]
) -> endpoint_components_pb2.LocalityLbEndpoints:
    group = endpoint_components_pb2.LocalityLbEndpoints(
        lb_endpoints=[
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(
                    address=protos.socket_address(address, target)
                ),
                health_status=_ENVOY_HEALTH[health],
            )
            for address, target, health in endpoints
        ]
    )
    if locality != Locality():
        group.locality.CopyFrom(
            base_pb2.Locality(region=locality.region, zone=locality.zone, sub_zone=locality.subzone)
        )
    ready = sum(health is Health.READY for _, _, health in endpoints)
    if ready:  # Envoy wants a weight of at least 1; none means no share of new requests
        group.load_balancing_weight.value = ready
    return group
