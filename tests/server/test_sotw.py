"""State-of-the-world ADS against a scripted client: versions, nonces, ACK, NACK, staleness."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_pb2

from tests.server.harness import (
    Server,
    Stream,
    names_of,
    run,
    serving,
    snapshot,
    sotw,
    stream,
    translation,
)
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.resourcetypes import ROUTE as RDS
from xdscp.snapshot import Snapshot


def test_wildcard_cds_then_ack_then_only_changes() -> None:
    async def scenario() -> None:
        first = snapshot({"a": 1, "b": 1})
        async with serving(first) as server, stream(server.port) as ads:
            await ads.send(sotw(CDS, with_node=True))
            response = await ads.recv()
            assert names_of(response, cluster_pb2.Cluster) == ["a", "b"]
            assert response.version_info == first.versions[CDS]
            await ads.send(sotw(CDS, version=response.version_info, nonce=response.nonce))
            # Same content again: nothing is sent. A new type's answer comes next instead.
            server.cache.set(snapshot({"a": 1, "b": 1}))
            await ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS
            server.cache.set(snapshot({"a": 2, "b": 1}))
            changed = await ads.recv()
            assert changed.type_url == CDS and changed.version_info != response.version_info
            assert changed.nonce != response.nonce
            streams = server.fleet.describe()
            assert streams[0]["node_id"] == "node-1"
            assert streams[0]["types"]["cds"]["acked"] == response.version_info

    run(scenario)


def test_stale_nonce_is_ignored() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            await ads.send(sotw(EDS, names=["a"], with_node=True))
            first = await ads.recv()
            await ads.send(sotw(EDS, names=["a"], version=first.version_info, nonce=first.nonce))
            server.cache.set(snapshot({"a": 2}))  # a's cluster changed, so its CLA is resent
            second = await ads.recv()
            assert second.nonce != first.nonce
            # An answer to the superseded response, asking for more: ignored, not even a NACK.
            await ads.send(sotw(EDS, names=["a", "b"], nonce=first.nonce, error="old"))
            await ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS
            assert server.fleet.describe()[0]["types"]["eds"]["nacks"] == 0

    run(scenario)


async def acked_then_nacked(server: Server, ads: Stream) -> tuple[Any, Any]:
    """Clusters {a} ACKed, then {a, bad} NACKed with "bad cluster": (good, rejected)."""
    await ads.send(sotw(CDS, with_node=True))
    good = await ads.recv()
    await ads.send(sotw(CDS, version=good.version_info, nonce=good.nonce))
    server.cache.set(snapshot({"a": 1, "bad": 1}))
    rejected = await ads.recv()
    await ads.send(sotw(CDS, version=good.version_info, nonce=rejected.nonce, error="bad cluster"))
    return good, rejected


def test_nack_is_recorded_and_not_resent_until_config_changes() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            good, rejected = await acked_then_nacked(server, ads)
            await ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS  # no resend of the rejected version
            status = server.fleet.describe()[0]["types"]["cds"]
            assert status["nacked"] == rejected.version_info
            assert status["error"] == "bad cluster"
            assert status["acked"] == good.version_info
            server.cache.set(snapshot({"a": 1, "fixed": 1}))
            fixed = await ads.recv()
            assert names_of(fixed, cluster_pb2.Cluster) == ["a", "fixed"]

    run(scenario)


def test_named_resource_that_does_not_exist_is_sent_once_it_appears() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            await ads.send(sotw(EDS, names=["a", "later"], with_node=True))
            first = await ads.recv()
            assert names_of(first, endpoint_pb2.ClusterLoadAssignment) == ["a"]
            await ads.send(sotw(EDS, ["a", "later"], version=first.version_info, nonce=first.nonce))
            server.cache.set(snapshot({"a": 1, "later": 1}))
            second = await ads.recv()
            assert names_of(second, endpoint_pb2.ClusterLoadAssignment) == ["a", "later"]

    run(scenario)


def test_reconnect_with_current_version_is_not_resent() -> None:
    async def scenario() -> None:
        current = snapshot({"a": 1})
        async with serving(current) as server, stream(server.port) as ads:
            await ads.send(sotw(CDS, version=current.versions[CDS], with_node=True))
            await ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS

    run(scenario)


def test_explicit_wildcard_and_unknown_type() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1, "b": 1})) as server, stream(server.port) as ads:
            await ads.send(sotw("type.googleapis.com/envoy.nothing.v3.Thing", with_node=True))
            await ads.send(sotw(CDS, names=["*"]))
            response = await ads.recv()
            assert response.type_url == CDS
            assert names_of(response, cluster_pb2.Cluster) == ["a", "b"]
            rejected = server.metrics.rejected.labels("unknown_type")._value.get()
            assert rejected == 1

    run(scenario)


def test_route_names_follow_the_subscription() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            await ads.send(sotw(RDS, names=["missing"], with_node=True))
            empty = await ads.recv()
            assert empty.type_url == RDS and list(empty.resources) == []

    run(scenario)


def routed(clusters: list[str], target: str, previous: Snapshot | None = None) -> Snapshot:
    """The clusters, and route configuration "r" sending everything to `target`."""
    config = route_pb2.RouteConfiguration(name="r")
    config.virtual_hosts.add(name="all", domains=["*"]).routes.add().route.cluster = target
    resources = {
        CDS: {name: cluster_pb2.Cluster(name=name) for name in clusters},
        RDS: {"r": config},
    }
    return Snapshot.build(translation(resources), previous)


@pytest.mark.parametrize("from_the_first", [False, True], ids=["afresh", "from-the-first"])
def test_removed_cluster_outlives_the_routes_that_used_it(from_the_first: bool) -> None:
    """Also when the new snapshot is built from the one the client holds (then the removed
    cluster is found among what changed, without a look at every cluster)."""
    first = routed(["a"], "a")

    async def scenario() -> None:
        async with serving(first) as server, stream(server.port) as ads:
            await ads.send(sotw(CDS, with_node=True))
            clusters = await ads.recv()
            await ads.send(sotw(CDS, version=clusters.version_info, nonce=clusters.nonce))
            await ads.send(sotw(RDS, names=["r"]))
            routes = await ads.recv()
            await ads.send(sotw(RDS, ["r"], version=routes.version_info, nonce=routes.nonce))
            # The route moves from a to b; a goes.
            server.cache.set(routed(["b"], "b", first if from_the_first else None))
            interim = await ads.recv()
            assert names_of(interim, cluster_pb2.Cluster) == ["a", "b"]  # b added, a kept
            moved = await ads.recv()
            assert moved.type_url == RDS
            await ads.send(sotw(CDS, version=interim.version_info, nonce=interim.nonce))
            await ads.send(sotw(RDS, ["r"], version=moved.version_info, nonce=moved.nonce))
            final = await ads.recv()
            assert names_of(final, cluster_pb2.Cluster) == ["b"]  # now a is removed

    run(scenario)


def test_a_version_that_comes_back_comes_with_a_fresh_nonce() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            good, rejected = await acked_then_nacked(server, ads)
            server.cache.set(snapshot({"a": 1}))  # back to the version the client holds
            again = await ads.recv()
            assert again.version_info == good.version_info
            assert again.nonce not in (good.nonce, rejected.nonce)

    run(scenario)
