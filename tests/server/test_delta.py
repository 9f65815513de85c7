"""Incremental ADS against a scripted client: only changes, removals, resubscription."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2

from tests.server.harness import delta, names_of, run, serving, snapshot, stream
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.server.delta import DeltaStream


def test_wildcard_gets_everything_then_only_what_changed_then_removals() -> None:
    async def scenario() -> None:
        first = snapshot({"a": 1, "b": 1, "c": 1})
        async with serving(first) as server, stream(server.port, delta=True) as ads:
            await ads.send(delta(CDS, with_node=True))
            everything = await ads.recv()
            assert names_of(everything, cluster_pb2.Cluster) == ["a", "b", "c"]
            await ads.send(delta(CDS, nonce=everything.nonce))
            server.cache.set(snapshot({"a": 1, "b": 2}, first))
            # The change goes out as one response, or, pushed on the wake-up before the ACK
            # is read, as the update and then the removal: never the removal first.
            changed = await ads.recv()
            assert names_of(changed, cluster_pb2.Cluster) == ["b"]
            removed = changed if changed.removed_resources else await ads.recv()
            assert list(removed.removed_resources) == ["c"]
            versions = {r.name: r.version for r in changed.resources}
            assert versions["b"] != {r.name: r.version for r in everything.resources}["b"]

    run(scenario)


def test_initial_resource_versions_send_only_what_differs() -> None:
    async def scenario() -> None:
        current = snapshot({"a": 1, "b": 1})
        held = {
            "a": current.resources[CDS]["a"].version,  # current
            "b": "stale",  # changed while the client was away
            "gone": "v0",  # deleted while the client was away
        }
        async with serving(current) as server, stream(server.port, delta=True) as ads:
            await ads.send(delta(CDS, initial=held, with_node=True))
            response = await ads.recv()
            assert names_of(response, cluster_pb2.Cluster) == ["b"]
            removal = response if response.removed_resources else await ads.recv()
            assert list(removal.removed_resources) == ["gone"]
            assert list(removal.resources) == [] or removal is response

    run(scenario)


def test_subscription_changes_count_even_with_a_stale_nonce() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1, "b": 1})) as server, stream(server.port, True) as ads:
            await ads.send(delta(EDS, subscribe=["a"], with_node=True))
            first = await ads.recv()
            assert names_of(first, endpoint_pb2.ClusterLoadAssignment) == ["a"]
            await ads.send(delta(EDS, subscribe=["b"], nonce="not-a-nonce-we-sent"))
            second = await ads.recv()
            assert names_of(second, endpoint_pb2.ClusterLoadAssignment) == ["b"]
            await ads.send(delta(EDS, unsubscribe=["a"], nonce=second.nonce))
            await ads.send(delta(EDS, subscribe=["a"]))  # resubscribed: sent again
            again = await ads.recv()
            assert names_of(again, endpoint_pb2.ClusterLoadAssignment) == ["a"]

    run(scenario)


def test_unknown_name_is_reported_absent_then_sent_when_it_appears() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port, True) as ads:
            await ads.send(delta(EDS, subscribe=["later"], with_node=True))
            absent = await ads.recv()
            assert list(absent.removed_resources) == ["later"]
            await ads.send(delta(EDS, nonce=absent.nonce))
            server.cache.set(snapshot({"a": 1, "later": 1}))
            appeared = await ads.recv()
            assert names_of(appeared, endpoint_pb2.ClusterLoadAssignment) == ["later"]

    run(scenario)


def test_nack_is_recorded_and_not_resent() -> None:
    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port, True) as ads:
            await ads.send(delta(CDS, with_node=True))
            first = await ads.recv()
            await ads.send(delta(CDS, nonce=first.nonce))
            server.cache.set(snapshot({"a": 1, "bad": 1}))
            rejected = await ads.recv()
            await ads.send(delta(CDS, nonce=rejected.nonce, error="bad cluster"))
            await ads.send(delta(LDS))
            assert (await ads.recv()).type_url == LDS
            status = server.fleet.describe()[0]["types"]["cds"]
            assert status["nacks"] == 1 and status["error"] == "bad cluster"

    run(scenario)


def test_two_streams_from_one_node_are_served_alike() -> None:
    async def scenario() -> None:
        async with (
            serving(snapshot({"a": 1})) as server,
            stream(server.port, True) as one,
            stream(server.port, True) as two,
        ):
            for ads in (one, two):
                await ads.send(delta(CDS, with_node=True))
                first = await ads.recv()
                assert names_of(first, cluster_pb2.Cluster) == ["a"]
                await ads.send(delta(CDS, nonce=first.nonce))
            server.cache.set(snapshot({"a": 1, "b": 1}))
            for ads in (one, two):
                assert names_of(await ads.recv(), cluster_pb2.Cluster) == ["b"]
            assert [s["node_id"] for s in server.fleet.describe()] == ["node-1", "node-1"]

    run(scenario)


def test_snapshots_skipped_between_wakeups_are_all_accounted_for() -> None:
    async def scenario() -> None:
        first = snapshot({"a": 1, "b": 1, "c": 1})
        async with serving(first) as server, stream(server.port, True) as ads:
            await ads.send(delta(CDS, with_node=True))
            everything = await ads.recv()
            await ads.send(delta(CDS, nonce=everything.nonce))
            await ads.send(delta(LDS))  # answered only once the ACK above is read
            listeners = await ads.recv()
            assert listeners.type_url == LDS
            await ads.send(delta(LDS, nonce=listeners.nonce))
            # Two changes before the stream wakes: it sees only the second snapshot, whose
            # changes (to c) do not include the first's (to a); both must reach the client.
            second = snapshot({"a": 2, "b": 1, "c": 1}, first)
            server.cache.set(second)
            server.cache.set(snapshot({"a": 2, "b": 1, "c": 2}, second))
            changed = await ads.recv()
            assert names_of(changed, cluster_pb2.Cluster) == ["a", "c"]

    run(scenario)


def test_nothing_more_is_pushed_until_the_client_answers_then_all_it_missed_at_once() -> None:
    """A client that reads slowly (or a burst of changes) gets one response per type per
    answer, not one per snapshot: what changed meanwhile goes out together."""
    first = snapshot({"a": 1, "b": 1, "c": 1})
    ads = DeltaStream(1)
    (everything,) = ads.on_request(delta(CDS, with_node=True), first).responses
    ads.on_request(delta(CDS, nonce=parsed(everything).nonce), first)
    second = snapshot({"a": 2, "b": 1, "c": 1}, first)
    (changed,) = ads.on_snapshot(second).responses
    assert names_of(parsed(changed), cluster_pb2.Cluster) == ["a"]
    third = snapshot({"a": 2, "b": 2, "c": 1}, second)
    fourth = snapshot({"a": 2, "b": 2, "c": 2}, third)
    assert ads.on_snapshot(third).responses == []  # not answered yet
    assert ads.on_snapshot(fourth).responses == []
    (missed,) = ads.on_request(delta(CDS, nonce=parsed(changed).nonce), fourth).responses
    assert names_of(parsed(missed), cluster_pb2.Cluster) == ["b", "c"]


def parsed(body: bytes) -> discovery_pb2.DeltaDiscoveryResponse:
    return discovery_pb2.DeltaDiscoveryResponse.FromString(body)
