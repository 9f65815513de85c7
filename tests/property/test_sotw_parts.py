"""State of the world sends endpoints in parts: once a client holds what it named, a response
carries only what changed or was just named. Whatever the order of snapshots (some never seen
by the stream), answers (ACK, NACK, stale) and changes of names, a client that merges what it
accepts as Envoy does ends up holding exactly what a fresh client naming the same is sent, at
the same version."""

from __future__ import annotations

from typing import Any

from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.harness import sotw, translation
from xdscp.resourcetypes import CLUSTER, ENDPOINT
from xdscp.server.sotw import SotwStream
from xdscp.snapshot import Snapshot

NAMES = ("a", "b", "c", "d", "e", "f")


def build(ports: dict[str, int], previous: Snapshot | None) -> Snapshot:
    """Each named cluster's endpoints at its port: a CLA's content is its port."""
    loads = {}
    for name, port in ports.items():
        load = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
        address = load.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
        address.address, address.port_value = "127.0.0.1", port
        loads[name] = load
    return Snapshot.build(translation({CLUSTER: {}, ENDPOINT: loads}), previous)


tables = st.dictionaries(st.sampled_from(NAMES), st.integers(1, 3), max_size=len(NAMES))
named = st.frozensets(st.sampled_from(NAMES), min_size=1)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), tables, st.booleans()),  # seen by the stream, or not
        st.tuples(st.just("answer"), st.sampled_from(("ack", "nack", "stale")), named),
    ),
    max_size=25,
)


class Client:
    """Envoy's side: names what it wants, merges what it accepts (left out: kept as it was)."""

    def __init__(self) -> None:
        self.held: dict[str, bytes] = {}
        self.version = ""
        self.nonce = ""
        self.unanswered: discovery_pb2.DiscoveryResponse | None = None

    def receive(self, responses: list[bytes]) -> None:
        for body in responses:
            response = discovery_pb2.DiscoveryResponse.FromString(body)
            assert response.type_url == ENDPOINT
            assert self.unanswered is None, "a second response before the first was answered"
            self.unanswered, self.nonce = response, response.nonce

    def answer(self, how: str, names: frozenset[str]) -> Any:
        if how == "stale":  # it still answers the response later
            return sotw(ENDPOINT, sorted(names), self.version, nonce="stale")
        response, self.unanswered = self.unanswered, None
        if response is None:  # a change of names, or the same request again
            return sotw(ENDPOINT, sorted(names), self.version, self.nonce)
        if how == "nack":
            return sotw(ENDPOINT, sorted(names), self.version, self.nonce, error="no")
        for resource in response.resources:
            load = endpoint_pb2.ClusterLoadAssignment.FromString(resource.value)
            self.held[load.cluster_name] = resource.value
        self.version = response.version_info
        return sotw(ENDPOINT, sorted(names), self.version, self.nonce)


@settings(max_examples=300, deadline=None)
@given(named, tables, steps, st.data())
def test_a_client_merging_parts_holds_what_a_fresh_one_is_sent(
    first: frozenset[str], ports: dict[str, int], script: list[Any], data: st.DataObject
) -> None:
    stream, client, names = SotwStream(), Client(), first
    current = build(ports, None)
    client.receive(stream.on_request(sotw(ENDPOINT, sorted(names)), current).responses)
    for step in script:
        if step[0] == "snapshot":
            ports = step[1]
            current = build(ports, current)
            if step[2]:
                client.receive(stream.on_snapshot(current).responses)
        else:
            if step[1] != "stale":
                names = step[2]
            request = client.answer(step[1], names)
            client.receive(stream.on_request(request, current).responses)
    # One named resource changes to what it never was, then answers until nothing more is due.
    current = build({**ports, data.draw(st.sampled_from(sorted(names))): 9}, current)
    client.receive(stream.on_snapshot(current).responses)
    while client.unanswered is not None:
        client.receive(stream.on_request(client.answer("ack", names), current).responses)

    fresh = discovery_pb2.DiscoveryResponse.FromString(current.sotw(ENDPOINT, names).body)
    assert client.version == fresh.version_info
    table = current.resources[ENDPOINT]
    assert {n: client.held.get(n) for n in names if n in table} == {
        load.cluster_name: resource.value
        for resource in fresh.resources
        if (load := endpoint_pb2.ClusterLoadAssignment.FromString(resource.value))
    }


def test_one_change_among_many_sends_that_one_alone() -> None:
    ports = {f"c{i}": 1 for i in range(1000)}
    first = build(ports, None)
    stream, client, names = SotwStream(), Client(), frozenset(ports)
    client.receive(stream.on_request(sotw(ENDPOINT, sorted(names)), first).responses)
    assert client.unanswered is not None and len(client.unanswered.resources) == 1000
    client.receive(stream.on_request(client.answer("ack", names), first).responses)
    second = build({**ports, "c7": 2}, first)
    client.receive(stream.on_snapshot(second).responses)
    assert client.unanswered is not None
    assert [r.value for r in client.unanswered.resources] == [second.resources[ENDPOINT]["c7"].body]
    assert client.unanswered.version_info == second.sotw(ENDPOINT, names).version


def test_after_a_nack_the_next_change_sends_all_that_is_named() -> None:
    first = build({"a": 1, "b": 1}, None)
    stream, client, names = SotwStream(), Client(), frozenset({"a", "b"})
    client.receive(stream.on_request(sotw(ENDPOINT, sorted(names)), first).responses)
    client.receive(stream.on_request(client.answer("nack", names), first).responses)
    assert client.unanswered is None and not client.held  # rejected, and not sent again
    second = build({"a": 2, "b": 1}, first)
    client.receive(stream.on_snapshot(second).responses)
    assert client.unanswered is not None
    assert sorted(r.value for r in client.unanswered.resources) == sorted(
        second.resources[ENDPOINT][n].body for n in names
    )
