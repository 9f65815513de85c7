"""The local cluster: where the proxies themselves run, per locality, for zone-aware routing.

Envoy routes zone-aware only knowing what share of its own fleet is in its zone. It reads that
from the cluster its bootstrap names in `cluster_manager.local_cluster_name`; xdscp serves that
cluster's endpoints from the EndpointSlices of the proxies' Service (`--local-cluster`).
"""

from __future__ import annotations

from envoy.config.endpoint.v3 import endpoint_pb2

from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.model.service import EndpointSlice
from xdscp.translate.endpoints import Topology, load_assignment
from xdscp.translate.names import LOCAL_CLUSTER

FLAG = "--local-cluster"


def local_assignment(
    service: Key, slices: tuple[EndpointSlice, ...], topology: Topology
) -> tuple[endpoint_pb2.ClusterLoadAssignment, list[Problem]]:
    """Served even when empty: an Envoy waits for its bootstrap's EDS clusters to start."""
    namespace, name = service
    problems = []
    if not slices:
        problems.append(
            Problem(
                FLAG,
                "Service",
                namespace,
                name,
                "",
                f"no EndpointSlice is labelled kubernetes.io/service-name={name} in {namespace}: "
                f"{LOCAL_CLUSTER} has no endpoints, so Envoy's zone-aware routing is off",
            )
        )
    return load_assignment(LOCAL_CLUSTER, None, slices, topology), problems
