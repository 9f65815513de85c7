"""A snapshot built from the last one and what the translation says changed equals one built
afresh from the same translation: same names, bytes and versions (per resource, per type and
overall), and so does every node group's snapshot cut from it. Translations are made by hand,
as an incremental translator hands them over: an untouched resource keeps its very message
object, and `changed` names exactly the ones touched (some steps say nothing, or name another
base, so the full comparison is taken in between); and through the pipeline, with the
translator's own translations."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.property.test_properties import changes, one
from tests.unit.test_snapshot import without_nonce
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.model.base import KubeObject
from xdscp.model.resources import Resources
from xdscp.pipeline import Pipeline
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, SECRET
from xdscp.snapshot import Groups, Snapshot, by_group
from xdscp.sources import Update
from xdscp.translate import Options, Selection, Translation, translate
from xdscp.translate.protos import encode
from xdscp.translate.secrets import FIRST

NAMES = {t: [f"{t[-6:]}-{i}" for i in range(3)] for t in PUSH_ORDER}
# The same names for clusters and their endpoints: an endpoint's version covers its cluster's.
NAMES[ENDPOINT] = NAMES[CLUSTER]
GROUPS = ("default", "gateway/a/one", "gateway/a/two")


def message(type_url: str, name: str, value: int) -> Message:
    made: Message
    if type_url == CLUSTER:
        made = cluster_pb2.Cluster(name=name, connect_timeout={"seconds": value})
    elif type_url == ENDPOINT:
        factor = {"overprovisioning_factor": {"value": value}}
        made = endpoint_pb2.ClusterLoadAssignment(cluster_name=name, policy=factor)
    elif type_url == LISTENER:
        port = {"socket_address": {"port_value": value}}
        made = listener_pb2.Listener(name=name, address=port)
    elif type_url == ROUTE:
        made = route_pb2.RouteConfiguration(name=name, virtual_hosts=[{"name": str(value)}])
    else:
        assert type_url == SECRET
        made = secret_pb2.Secret(
            name=name, generic_secret={"secret": {"inline_string": str(value)}}
        )
    return made


edits = st.lists(
    st.tuples(
        st.sampled_from(PUSH_ORDER),
        st.integers(0, 2),
        st.integers(1, 2) | st.none(),  # a value (few: the same bytes again is likely), or gone
    ),
    max_size=6,
)
selections = st.fixed_dictionaries(
    {t: st.none() | st.frozensets(st.sampled_from(NAMES[t])) for t in PUSH_ORDER}
)
steps = st.lists(
    st.tuples(
        edits,
        # Each group: the same selection objects as last time (None), or new ones.
        st.fixed_dictionaries({g: st.none() | selections for g in GROUPS}),
        st.sampled_from(("changed", "changed", "changed", "unknown", "another base")),
    ),
    min_size=1,
    max_size=10,
)


def content(snapshot: Snapshot) -> dict[str, Any]:
    """What a client can tell of a snapshot: every resource's bytes and version, each type's
    version, the snapshot's."""
    tables = {
        t: {n: (r.body, r.version) for n, r in sorted(snapshot.resources[t].items())}
        for t in PUSH_ORDER
    }
    responses = {t: without_nonce(snapshot.sotw(t, None)) for t in PUSH_ORDER}
    return {
        "tables": tables,
        "versions": snapshot.versions,
        "version": snapshot.version,
        "responses": responses,
    }


def assert_changed_right(snapshot: Snapshot, base: Snapshot | None) -> None:
    """`changed` names exactly the resources that are other objects than the base's."""
    if base is None:
        return
    assert snapshot.changed is not None
    for t in PUSH_ORDER:
        old, new = base.resources[t], snapshot.resources[t]
        differing = {n for n in {*old, *new} if old.get(n) is not new.get(n)}
        assert snapshot.changed[t] == differing, t


@settings(max_examples=100, deadline=None)
@given(steps)
def test_a_snapshot_built_from_the_last_one_equals_one_built_afresh(
    script: list[tuple[list[tuple[str, int, int | None]], dict[str, Any], str]],
) -> None:
    tables: dict[str, dict[str, bytes]] = {t: {} for t in PUSH_ORDER}
    chosen: dict[str, Selection] = {g: dict.fromkeys(PUSH_ORDER) for g in GROUPS}
    previous: Snapshot | None = None
    groups = Groups()
    for serial, (edited, regrouped, told) in enumerate(script, start=1):
        touched: dict[str, set[str]] = {t: set() for t in PUSH_ORDER}
        for type_url, index, value in edited:
            name = NAMES[type_url][index]
            if value is None:
                tables[type_url].pop(name, None)
            else:
                tables[type_url][name] = encode(message(type_url, name, value))
            touched[type_url].add(name)
        if any(selection is not None for selection in regrouped.values()):
            # Another selections' object: the translator keeps the very same one otherwise.
            chosen = {**chosen, **{g: s for g, s in regrouped.items() if s is not None}}
        translation = Translation(
            resources={t: dict(table) for t, table in tables.items()},
            serial=serial,
            base={"another base": serial - 2, "unknown": None}.get(told, serial - 1),
            changed=None if told == "unknown" else {t: frozenset(n) for t, n in touched.items()},
            groups=chosen,
        )
        snapshot = Snapshot.build(translation, previous)
        afresh = Snapshot.build(translation)
        assert content(snapshot) == content(afresh)
        assert_changed_right(snapshot, previous)
        cut = by_group(snapshot, translation, groups)
        fresh_cut = by_group(afresh, translation, Groups())
        assert set(cut) == set(fresh_cut) == set(GROUPS)
        for group, group_snapshot in cut.items():
            assert content(group_snapshot) == content(fresh_cut[group]), group
            before = groups.get(group)
            if before is not None and content(before) == content(group_snapshot):
                # Nothing changed for its nodes: the very snapshot they have, or everything.
                assert group_snapshot is before or group_snapshot is snapshot
            if group_snapshot is not snapshot and group_snapshot is not before:
                assert_changed_right(group_snapshot, before)
        previous, groups = snapshot, cut


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(changes, min_size=1, max_size=20))
def test_the_pipeline_serves_what_snapshots_built_afresh_serve(
    steps: list[tuple[tuple[str, int], dict[str, Any] | None]],
) -> None:
    """Through the translator's real changes (Services, slices, Nodes, Backends, Secrets,
    policies, a Gateway and routes, one step at a time, as the sources make views), the
    snapshot and every node group's served equal those built afresh from a translation made
    afresh."""
    pipeline = Pipeline(SnapshotCache(), Metrics(), Options())
    resources, objects = Resources(), dict[tuple[str, int], KubeObject]()
    fresh_memory = FIRST
    for key, body in steps:
        gone = objects.pop(key, None)
        if body is not None:
            objects[key] = one(body)
        added = [objects[key]] if body is not None else []
        removed = [(gone.KIND, *gone.key)] if gone is not None and not added else []
        resources = resources.replacing(added, removed)
        served = pipeline.apply(Update(resources, ()))
        assume(served is not None and not served.stale)  # nothing Envoy would refuse
        assert served is not None
        afresh = translate(resources, last=fresh_memory)
        fresh_memory = afresh.secret_memory
        universe = Snapshot.build(afresh)
        assert content(served.snapshot) == content(universe)
        groups = by_group(universe, afresh, Groups())
        assert set(served.groups) == set(groups)
        for group, snapshot in served.groups.items():
            assert content(snapshot) == content(groups[group]), group
