"""A delta client ends up holding exactly what it asked for, whatever the order of changes,
subscriptions and reconnects; and a stream in sync shares the snapshot's table instead of
keeping its own copy (the memory of 1,000 streams at 10,000 Services depends on it)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.harness import delta, snapshot
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.server.delta import DeltaStream
from xdscp.server.held import Names
from xdscp.snapshot import Snapshot

NAMES = ("a", "b", "c", "d", "e")

tables = st.dictionaries(st.sampled_from(NAMES), st.integers(1, 3), max_size=len(NAMES))
name_sets = st.lists(st.sampled_from(NAMES), max_size=3, unique=True)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("change"), tables),
        st.tuples(st.just("subscribe"), name_sets),
        st.tuples(st.just("unsubscribe"), name_sets),
        st.tuples(st.just("reconnect"), st.just([])),
    ),
    max_size=12,
)


class Client:
    """An Envoy's view: what it holds of each type, and the endpoint names it subscribed."""

    def __init__(self) -> None:
        self.held: dict[str, dict[str, str]] = {CDS: {}, EDS: {}}
        self.names: set[str] = set()
        self.stream = DeltaStream(stream_id=1)

    def connect(self, current: Snapshot) -> None:
        self.stream = DeltaStream(stream_id=self.stream.stream_id + 1)
        self.send(delta(CDS, initial=dict(self.held[CDS])), current)
        self.send(delta(EDS, sorted(self.names), initial=dict(self.held[EDS])), current)

    def send(self, request: Any, current: Snapshot) -> None:
        self.receive(self.stream.on_request(request, current).responses, current)

    def receive(self, responses: list[bytes], current: Snapshot) -> None:
        for raw in responses:
            response = discovery_pb2.DeltaDiscoveryResponse.FromString(raw)
            held = self.held[response.type_url]
            held.update((r.name, r.version) for r in response.resources)
            for name in response.removed_resources:
                held.pop(name, None)
            self.send(delta(response.type_url, nonce=response.nonce), current)


@pytest.mark.parametrize("rebase_after", [0, 64])
@settings(max_examples=200, deadline=None)
@given(first=tables, steps=steps)
def test_a_delta_client_holds_what_it_asked_for(
    rebase_after: int, first: dict[str, int], steps: list[tuple[str, Any]]
) -> None:
    with mock.patch("xdscp.server.delta._REBASE_AFTER", rebase_after):
        run_steps(first, steps)


def run_steps(first: dict[str, int], steps: list[tuple[str, Any]]) -> None:
    current = snapshot(first)
    client = Client()
    client.connect(current)
    for action, value in steps:
        if action == "change":
            current = snapshot(value, current)
            client.receive(client.stream.on_snapshot(current).responses, current)
        elif action == "subscribe":
            client.names |= set(value)
            client.send(delta(EDS, subscribe=value), current)
        elif action == "unsubscribe":
            client.names -= set(value)
            for name in value:
                client.held[EDS].pop(name, None)
            client.send(delta(EDS, unsubscribe=value), current)
        else:
            client.connect(current)
        clusters, endpoints = current.resources[CDS], current.resources[EDS]
        assert client.held[CDS] == {n: r.version for n, r in clusters.items()}
        wanted = {n: r.version for n, r in endpoints.items() if n in client.names}
        assert {n: v for n, v in client.held[EDS].items() if n in client.names} == wanted
        # In sync, the stream keeps no versions of its own: it points at a snapshot's table.
        known = client.stream.subscriptions[CDS].known
        assert not known.own and known.base == clusters


def test_new_and_reconnecting_clients_share_one_response_and_one_table() -> None:
    current = snapshot({name: 1 for name in NAMES})
    first, second = DeltaStream(stream_id=1), DeltaStream(stream_id=2)
    (one,) = first.on_request(delta(CDS), current).responses
    (other,) = second.on_request(delta(CDS), current).responses
    assert one is other
    holding = {n: r.version for n, r in current.resources[CDS].items()}
    back = DeltaStream(stream_id=3)
    assert back.on_request(delta(CDS, initial=holding), current).responses == []
    for stream in (first, second, back):
        assert stream.subscriptions[CDS].known.is_exactly(current.resources[CDS])
    (endpoints,) = first.on_request(delta(EDS, list(NAMES)), current).responses
    names = first.subscriptions[EDS].names
    assert isinstance(names, Names) and names.is_exactly(current.resources[EDS])
    assert endpoints is second.on_request(delta(EDS, list(NAMES)), current).responses[0]
