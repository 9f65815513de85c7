"""The streams as pure protocol state: requests and snapshots in, responses and events out, and
through the servicer with a fake stream that checks every nonce and version it receives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf.message import Message

from tests.server.fake import fake_stream
from tests.server.harness import delta, node, run, snapshot, sotw, translation
from xdscp.cache import SnapshotCache
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.resourcetypes import REMOVAL_ORDER
from xdscp.resourcetypes import ROUTE as RDS
from xdscp.resourcetypes import SECRET as SDS
from xdscp.server.delta import DeltaStream
from xdscp.server.events import Acked, Holds, Nacked, Rejected, Sent
from xdscp.server.fleet import Fleet
from xdscp.server.sotw import SotwStream
from xdscp.server.stream import Variant
from xdscp.snapshot import Snapshot

UNKNOWN = "type.googleapis.com/envoy.nothing.v3.Thing"


def test_sotw_stream_reports_what_happened_as_events() -> None:
    first = snapshot({"a": 1})
    stream = SotwStream()
    assert stream.on_request(sotw(UNKNOWN, with_node=True), first).events == [
        Rejected(UNKNOWN, "unknown_type", first=True)
    ]
    assert stream.on_request(sotw(UNKNOWN), first).events == [
        Rejected(UNKNOWN, "unknown_type", first=False)
    ]
    sent = stream.on_request(sotw(CDS), first)
    response = discovery_pb2.DiscoveryResponse.FromString(sent.responses[0])
    assert sent.events == [
        Holds(CDS, ""),
        Sent(CDS, first.versions[CDS], response.nonce),
    ]
    assert stream.on_request(sotw(CDS, nonce="stale"), first) == ([], [])
    acked = stream.on_request(sotw(CDS, nonce=response.nonce), first)
    assert acked == ([], [Acked(CDS, first.versions[CDS])])
    second = snapshot({"a": 2}, first)
    (changed,) = stream.on_snapshot(second).events
    assert isinstance(changed, Sent) and changed.version == second.versions[CDS]
    nacked = stream.on_request(sotw(CDS, nonce=changed.nonce, error="bad"), second)
    assert nacked == ([], [Nacked(CDS, second.versions[CDS], "bad")])
    assert stream.on_snapshot(second) == ([], [])  # a rejected version is not sent again


def test_delta_stream_answers_a_new_client_and_trusts_a_reconnecting_one() -> None:
    current = snapshot({"a": 1})
    new_client = DeltaStream(stream_id=7)
    empty = new_client.on_request(delta(RDS, subscribe=["missing"]), current)
    (sent,) = empty.events
    assert sent == Sent(RDS, current.versions[RDS], "7-1")  # empty, but an answer
    held = {"a": current.resources[CDS]["a"].version}
    reconnecting = DeltaStream(stream_id=8)
    assert reconnecting.on_request(delta(CDS, initial=held), current) == (
        [],
        [Holds(CDS, current.versions[CDS])],
    )


def test_sotw_through_the_servicer_fresh_nonces_push_order_and_fleet_view() -> None:
    async def scenario() -> None:
        cache, fleet = SnapshotCache(), Fleet()
        first = snapshot({"a": 1, "b": 1})
        cache.set(first)
        async with fake_stream(cache, fleet=fleet) as ads:
            ads.send(sotw(CDS, with_node=True))
            clusters = await ads.recv()
            ads.send(sotw(CDS, version=clusters.version_info, nonce=clusters.nonce))
            ads.send(sotw(EDS, ["a", "b"]))
            endpoints = await ads.recv()
            ads.send(sotw(EDS, ["a", "b"], endpoints.version_info, endpoints.nonce))
            second = snapshot({"a": 2, "b": 1}, first)
            cache.set(second)
            # A changed cluster renews its endpoints' versions: both go out, cluster first.
            pushed = [await ads.recv(), await ads.recv()]
            assert [r.type_url for r in pushed] == [CDS, EDS]
            assert [r.version_info for r in pushed] == [second.versions[CDS], second.versions[EDS]]
            ads.send(sotw(CDS, version=clusters.version_info, nonce=clusters.nonce))  # stale
            ads.send(sotw(CDS, version=clusters.version_info, nonce=pushed[0].nonce, error="no"))
            ads.send(sotw(EDS, ["a", "b"], pushed[1].version_info, pushed[1].nonce))
            ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS  # nothing else came before it
            (status,) = fleet.describe()
            assert status["node_id"] == "node-1"
            assert status["types"]["cds"]["nacked"] == second.versions[CDS]
            assert status["types"]["cds"]["error"] == "no"
            assert status["types"]["eds"]["acked"] == second.versions[EDS]
            assert status["types"]["lds"]["in_flight"] == first.versions[LDS]

    run(scenario)


def everything(clusters: list[str]) -> Snapshot:
    """Clusters with their endpoints, and one listener, its routes and a secret while there are
    any."""
    resources: dict[str, dict[str, Message]] = {CDS: {}, EDS: {}}
    for name in clusters:
        resources[CDS][name] = cluster_pb2.Cluster(name=name)
        resources[EDS][name] = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    if clusters:
        resources[LDS] = {"l": listener_pb2.Listener(name="l")}
        resources[RDS] = {"r": route_pb2.RouteConfiguration(name="r")}
        resources[SDS] = {"s": secret_pb2.Secret(name="s")}
    return Snapshot.build(translation(resources))


def test_delta_through_the_servicer_numbers_nonces_and_removes_in_removal_order() -> None:
    async def scenario() -> None:
        cache = SnapshotCache()
        cache.set(first := everything(["a"]))
        async with fake_stream(cache, delta=True) as ads:
            for type_url, names in ((SDS, ["s"]), (CDS, []), (EDS, ["a"]), (LDS, []), (RDS, ["r"])):
                request = delta(type_url, subscribe=names)
                request.node.CopyFrom(node())
                ads.send(request)
                response = await ads.recv()
                assert response.type_url == type_url and len(response.resources) == 1
                ads.send(delta(type_url, nonce=response.nonce))
            cache.set(everything([]))
            removals = [await ads.recv() for _ in REMOVAL_ORDER]
            assert [r.type_url for r in removals] == list(REMOVAL_ORDER)
            assert all(len(r.removed_resources) == 1 for r in removals)
            # A new subscriber to all there is gets the response shared by every such one,
            # under the snapshot's nonce; the stream numbers its own responses.
            shared, own = ads.nonces[:5], ads.nonces[5:]
            assert all(n.startswith(f"{first.serial}.") for n in shared)
            assert [int(n.split("-")[1]) for n in own] == list(range(1, 6))

    run(scenario)


def secret_and_cluster(secret: str, timeout: int, previous: Snapshot | None = None) -> Snapshot:
    """Cluster "a" and the secret "s" it would name, each with a value to change."""
    cluster = cluster_pb2.Cluster(name="a")
    cluster.connect_timeout.seconds = timeout
    named = secret_pb2.Secret(name="s")
    named.generic_secret.secret.inline_string = secret
    return Snapshot.build(translation({CDS: {"a": cluster}, SDS: {"s": named}}), previous)


Ack = Callable[[str, str], Any]  # (type URL, nonce) -> the request that ACKs it


def acked(stream: Variant, responses: list[bytes], current: Snapshot, ack: Ack) -> list[str]:
    """The types of `responses`, in order, each ACKed as a client would."""
    parse = (
        discovery_pb2.DeltaDiscoveryResponse
        if isinstance(stream, DeltaStream)
        else discovery_pb2.DiscoveryResponse
    )
    types = []
    for body in responses:
        response = parse.FromString(body)
        types.append(response.type_url)
        stream.on_request(ack(response.type_url, response.nonce), current)
    return types


def test_a_secret_goes_before_its_cluster_and_a_rotation_sends_the_secret_alone() -> None:
    def sotw_ack(type_url: str, nonce: str) -> Any:  # SotW names its resources every time
        return sotw(type_url, ["s"] if type_url == SDS else None, nonce=nonce)

    def delta_ack(type_url: str, nonce: str) -> Any:
        return delta(type_url, nonce=nonce)

    first = secret_and_cluster("one", 1)
    variants: list[tuple[Variant, Any, Ack]] = [
        (SotwStream(), sotw(SDS, ["s"]), sotw_ack),
        (DeltaStream(stream_id=1), delta(SDS, subscribe=["s"]), delta_ack),
    ]
    for stream, subscribe, ack in variants:
        hello = sotw(CDS, with_node=True) if ack is sotw_ack else delta(CDS, with_node=True)
        assert acked(stream, stream.on_request(hello, first).responses, first, ack) == [CDS]
        assert acked(stream, stream.on_request(subscribe, first).responses, first, ack) == [SDS]

        both = secret_and_cluster("two", 2, first)
        assert acked(stream, stream.on_snapshot(both).responses, both, ack) == [SDS, CDS]

        rotated = secret_and_cluster("three", 2, both)
        assert rotated.versions[CDS] == both.versions[CDS]
        assert acked(stream, stream.on_snapshot(rotated).responses, rotated, ack) == [SDS]
