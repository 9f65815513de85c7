"""A request costs in proportion to itself, not to what its stream asked for before.

Measured as memory allocated while the request is handled (tracemalloc's peak: exact and
repeatable, unlike time): a stream that rescans or sorts every name it holds allocates in
proportion to them on every request.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from functools import partial

from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment as EDS_MESSAGE
from envoy.service.discovery.v3 import discovery_pb2

from tests.server.harness import delta, names_of, snapshot, sotw
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import ROUTE as RDS
from xdscp.server.delta import DeltaStream
from xdscp.server.held import Names
from xdscp.server.sotw import SotwStream
from xdscp.server.stream import Output

HELD = 100_000
# A one-name request and its response take a few KiB; the names held take megabytes.
SMALL = 64 * 1024
SNAPSHOT = snapshot({f"c{i}": 1 for i in range(2_000)})


def measured(handle: Callable[[], Output]) -> tuple[int, Output]:
    """The most memory allocated at once while `handle` runs, and what it returned."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        output = handle()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base, output


def allocated(handle: Callable[[], Output], answered: bool = True) -> int:
    """The most memory allocated at once while `handle` runs (and whether it answered)."""
    peak, output = measured(handle)
    assert bool(output.responses) == answered
    return peak


def test_delta_one_name_subscribe_costs_the_same_on_a_stream_holding_many() -> None:
    stream = DeltaStream(1)
    stream.on_request(delta(CDS, with_node=True), SNAPSHOT)  # every cluster (wildcard)
    names = [f"missing-{i}" for i in range(HELD)]
    stream.on_request(delta(EDS, subscribe=names), SNAPSHOT)
    assert stream.names_held() >= HELD
    assert allocated(lambda: stream.on_request(delta(EDS, subscribe=["c7"]), SNAPSHOT)) < SMALL
    # ... also for a wildcard type and for a name that does not exist.
    new = delta(CDS, subscribe=["new"])
    assert allocated(lambda: stream.on_request(new, SNAPSHOT), answered=False) < SMALL
    gone = delta(EDS, unsubscribe=["c7"])
    assert allocated(lambda: stream.on_request(gone, SNAPSHOT), answered=False) < SMALL
    assert allocated(lambda: stream.on_request(delta(EDS, subscribe=["c8"]), SNAPSHOT)) < SMALL


def test_sotw_request_for_one_name_costs_the_same_beside_a_type_holding_many() -> None:
    stream = SotwStream(1)
    stream.on_request(sotw(EDS, [f"missing-{i}" for i in range(HELD)], with_node=True), SNAPSHOT)
    # Every type's response is looked at on each request: it must not be built again.
    assert allocated(lambda: stream.on_request(sotw(RDS, ["r"]), SNAPSHOT)) < SMALL


def test_delta_endpoints_of_a_new_cluster_cost_the_same_however_many_are_named() -> None:
    """Every Envoy names every cluster's endpoints, so its names are a snapshot's table's: when
    a cluster comes and Envoy names its endpoints too, the names follow the new table without
    a copy or a comparison of them all."""
    clusters = {f"c{i}": 1 for i in range(20_000)}
    before = snapshot(clusters)
    stream = DeltaStream(1)
    for request in (delta(CDS, with_node=True), delta(EDS, subscribe=sorted(clusters))):
        stream.on_request(request, before)
        (nonce,) = stream.subscriptions[request.type_url].pending
        stream.on_request(delta(request.type_url, nonce=nonce), before)  # Envoy's ACK
    after = snapshot({**clusters, "new": 1}, before)
    assert allocated(lambda: stream.on_snapshot(after)) < SMALL  # the new cluster
    assert allocated(lambda: stream.on_request(delta(EDS, subscribe=["new"]), after)) < SMALL
    names = stream.subscriptions[EDS].names
    assert isinstance(names, Names) and names.is_exactly(after.resources[EDS])


def test_a_stream_that_skipped_snapshots_looks_at_only_what_changed() -> None:
    """A busy stream wakes up to the newest snapshot, not to each one: what changed since
    the one it was in step with is all it looks at, delta or state of the world (endpoints,
    sent in parts), and all it sends."""
    clusters = {f"c{i}": 1 for i in range(20_000)}
    first = snapshot(clusters)
    streams = DeltaStream(1), SotwStream(2)
    delta_stream, sotw_stream = streams
    for request in (delta(CDS, with_node=True), delta(EDS, subscribe=sorted(clusters))):
        delta_stream.on_request(request, first)
        (nonce,) = delta_stream.subscriptions[request.type_url].pending
        delta_stream.on_request(delta(request.type_url, nonce=nonce), first)  # Envoy's ACK
    sotw_stream.on_request(sotw(EDS, sorted(clusters), with_node=True), first)
    nonce = sotw_stream.subscriptions[EDS].nonce
    sotw_stream.on_request(sotw(EDS, sorted(clusters), nonce=nonce), first)
    skipped = snapshot({**clusters, "c1": 2}, first)
    newest = snapshot({**clusters, "c1": 2, "c2": 2}, skipped)
    for stream, parse in ((delta_stream, delta_names), (sotw_stream, sotw_names)):
        peak, output = measured(partial(stream.on_snapshot, newest))
        assert peak < SMALL
        assert [parse(response) for response in output.responses] in (
            [["c1", "c2"]],  # state of the world: endpoints
            [["c1", "c2"], ["c1", "c2"]],  # delta: clusters, then endpoints
        )


def delta_names(response: bytes) -> list[str]:
    return [r.name for r in discovery_pb2.DeltaDiscoveryResponse.FromString(response).resources]


def sotw_names(response: bytes) -> list[str]:
    return names_of(discovery_pb2.DiscoveryResponse.FromString(response), EDS_MESSAGE)
