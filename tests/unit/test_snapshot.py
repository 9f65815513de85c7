"""Snapshots: same input, same bytes and versions; a changed cluster renews its endpoints."""

from __future__ import annotations

import gc
import weakref

from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2

from tests.live import ROOT
from tests.server.harness import snapshot
from tests.translations import edited
from xdscp.app import load
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER
from xdscp.snapshot import Snapshot, SotwResponse
from xdscp.translate import translate

POLICIES = (ROOT / "policies",)


def build() -> Snapshot:
    return Snapshot.build(translate(load(POLICIES).resources))


def test_same_input_gives_same_bytes_and_versions() -> None:
    one, two = build(), build()
    assert one.version == two.version
    for type_url in PUSH_ORDER:
        assert one.versions[type_url] == two.versions[type_url]
        assert without_nonce(one.sotw(type_url, None)) == without_nonce(two.sotw(type_url, None))


def without_nonce(response: SotwResponse) -> bytes:
    """A response's bytes but its nonce, which numbers the snapshot it was cut from."""
    parsed = discovery_pb2.DiscoveryResponse.FromString(response.body)
    parsed.nonce = ""
    serialized: bytes = parsed.SerializeToString(deterministic=True)
    return serialized


def test_sotw_response_parses_and_its_nonce_is_fresh_per_snapshot() -> None:
    one, two = build(), build()
    first = one.sotw(CLUSTER, None)
    nonce = first.nonce
    response = discovery_pb2.DiscoveryResponse.FromString(first.body)
    assert response.version_info == first.version and response.nonce == nonce
    assert one.sotw(CLUSTER, None) is one.sotw(CLUSTER, None)  # built once, shared
    assert two.sotw(CLUSTER, None).nonce != nonce  # same version, another snapshot
    assert response.type_url == CLUSTER
    cluster = cluster_pb2.Cluster()
    response.resources[0].Unpack(cluster)
    assert cluster.name == "kube_httpbin_httpbin_8000"
    assert cluster.upstream_connection_options.tcp_keepalive.keepalive_probes.value == 3


def test_changed_cluster_gives_its_endpoints_a_new_version_and_keeps_the_rest() -> None:
    before = build()
    name = "kube_httpbin_httpbin_8000"

    def nine_seconds(cluster: cluster_pb2.Cluster) -> None:
        cluster.connect_timeout.seconds = 9

    translation = edited(translate(load(POLICIES).resources), CLUSTER, [name], nine_seconds)
    after = Snapshot.build(translation, before)
    assert after.resources[CLUSTER][name].version != before.resources[CLUSTER][name].version
    assert after.resources[ENDPOINT][name].body == before.resources[ENDPOINT][name].body
    assert after.resources[ENDPOINT][name].version != before.resources[ENDPOINT][name].version
    # Untouched resources are the same objects: serialized once, shared.
    listener = next(iter(before.resources[LISTENER]))
    assert after.resources[LISTENER][listener] is before.resources[LISTENER][listener]


def test_a_response_to_names_is_shared_while_held_and_then_forgotten() -> None:
    """Names come from clients: what nobody holds any more takes no memory."""
    snapshot = build()
    name = "kube_httpbin_httpbin_8000"
    held = snapshot.sotw(ENDPOINT, frozenset({name, "missing"}))
    assert snapshot.sotw(ENDPOINT, frozenset({"missing", name})) is held  # another stream's ask
    forgotten = weakref.ref(held)
    del held
    gc.collect()
    assert forgotten() is None
    every = weakref.ref(snapshot.sotw(ENDPOINT, None))
    gc.collect()
    assert every() is not None  # the full table's answer is the server's own: kept


def test_what_changed_since_a_snapshot_a_few_back_is_known() -> None:
    first = snapshot({"a": 1, "b": 1, "c": 1})
    second = snapshot({"a": 2, "b": 1, "c": 1}, first)
    third = snapshot({"a": 2, "b": 1}, second)
    nothing: dict[str, frozenset[str]] = {t: frozenset() for t in PUSH_ORDER}
    assert third.changes_since(third.serial) == nothing
    since_second = {**nothing, CLUSTER: frozenset({"c"}), ENDPOINT: frozenset({"c"})}
    assert third.changes_since(second.serial) == since_second
    since_first = third.changes_since(first.serial)
    assert since_first is not None and since_first[CLUSTER] == since_first[ENDPOINT] == {"a", "c"}
    assert third.changes_since(None) is None
    assert third.changes_since(snapshot({"a": 1}).serial) is None  # not one it came from


def test_what_changed_is_forgotten_once_comparing_the_tables_costs_no_more() -> None:
    newest = first = snapshot({"a": 1, "b": 1})
    for timeout in range(2, 5):  # each step changes both clusters and both endpoints
        newest = snapshot({"a": timeout, "b": timeout}, newest)
    assert newest.changes_since(first.serial) is None
