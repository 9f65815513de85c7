"""Kubernetes mode without an API server: the reflector against a scripted fake, the store,
and the status conditions. Fast; the other test_kmode_* modules prove the real thing.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xdscp import cli
from xdscp.gatewaystatus import CONTROLLER
from xdscp.model.load import Document, load
from xdscp.model.problems import Problem
from xdscp.model.resources import ObjectKey, Resources
from xdscp.sources.kubernetes.api import ApiError
from xdscp.sources.kubernetes.conditions import MAX_ANCESTORS, ancestors
from xdscp.sources.kubernetes.config import KubernetesConfig
from xdscp.sources.kubernetes.kinds import POLICIES, WATCHED, Resource
from xdscp.sources.kubernetes.reflector import (
    Changed,
    Deleted,
    Event,
    Listed,
    Reflector,
    Scope,
    Timing,
    Unavailable,
)
from xdscp.sources.kubernetes.source import KubernetesSource, watch_scopes
from xdscp.sources.kubernetes.store import Store
from xdscp.sources.kubernetes.trim import kept
from xdscp.status import Accepted, AncestorStatus, Attached, PolicyStatus

SERVICES = next(r for r in WATCHED if r.kind == "Service")
NODES = next(r for r in WATCHED if r.kind == "Node")
NOW, EARLIER = "2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"


def service(name: str, version: str = "1", port: int = 8000, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version},
        "spec": {"ports": [{"name": "http", "port": port}]},
        **extra,
    }


def bcp(name: str, spec: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": name, "namespace": "ns", "generation": generation},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "httpbin"}], **spec},
    }


# --- The reflector, against a scripted API server -----------------------------------------


class FakeApi:
    """Answers list and watch calls from a script; sets `stop` when the script runs out."""

    def __init__(self, script: list[Any], stop: threading.Event) -> None:
        self.script, self.stop = script, stop
        self.calls: list[tuple[str, dict[str, str]]] = []

    def _next(self, call: str, query: Any) -> Any:
        self.calls.append((call, dict(query)))
        if len(self.script) <= 1:
            self.stop.set()
        answer = self.script.pop(0) if self.script else []  # past the end: an empty watch
        if isinstance(answer, ApiError):
            raise answer
        return answer

    def get(self, path: str, query: Any = ()) -> dict[str, Any]:
        answer: dict[str, Any] = self._next("list", query)
        return answer

    def watch(self, path: str, query: Any, read_timeout: float) -> Iterator[dict[str, Any]]:
        events: list[dict[str, Any]] = self._next("watch", query)
        yield from events


def reflect(script: list[Any], resource: Resource = SERVICES) -> tuple[list[Event], FakeApi]:
    stop = threading.Event()
    api = FakeApi(script, stop)
    events: list[Event] = []
    timing = Timing(
        backoff_initial=0.001, backoff_max=0.001, shortest_watch=0, optional_retry=0.001
    )
    Reflector(api, Scope(resource, None), events.append, stop, timing).run()
    return events, api


def page(version: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}, "items": list(items)}


def test_list_then_watch_from_its_version_and_on_from_bookmarks() -> None:
    item = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "5"}}
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}
    changed = {"type": "MODIFIED", "object": {**item, "metadata": {**item["metadata"]}}}
    deleted = {"type": "DELETED", "object": item}

    events, api = reflect([page("7", item), [changed, bookmark], [deleted]])

    assert [call for call, _ in api.calls] == ["list", "watch", "watch"]
    assert [q["resourceVersion"] for _, q in api.calls[1:]] == ["7", "9"]
    assert api.calls[1][1]["allowWatchBookmarks"] == "true"
    assert [type(e) for e in events] == [Listed, Changed, Deleted]
    listed = events[0]
    assert isinstance(listed, Listed)
    # List items of built-in kinds come without apiVersion and kind: the reflector adds them.
    assert listed.objects[0]["kind"] == "Service" and listed.objects[0]["apiVersion"] == "v1"


def test_secrets_are_listed_by_type_and_only_their_tls_keys_kept() -> None:
    by_type = {r.field_selector: r for r in WATCHED if r.kind == "Secret"}
    assert set(by_type) == {"type=kubernetes.io/tls", "type=Opaque"}
    secret = {
        "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "5"},
        "type": "Opaque",
        "data": {"ca.crt": "Y2E=", "password": "aHVudGVyMg=="},
    }
    events, api = reflect([page("7", secret), []], by_type["type=Opaque"])
    assert [q.get("fieldSelector") for _, q in api.calls] == ["type=Opaque"] * 2
    listed = events[0]
    assert isinstance(listed, Listed)
    assert listed.objects[0]["data"] == {"ca.crt": "Y2E="}


def test_410_gone_lists_again_and_other_failures_retry_the_watch() -> None:
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
    events, api = reflect(
        [page("7"), ApiError(0, "connection refused"), [gone], ApiError(410, "Gone"), page("12")]
    )

    # no answer: watch again from 7; 410 event: list; 410 answer to a list: list again.
    assert [(c, q.get("resourceVersion")) for c, q in api.calls] == [
        ("list", None),
        ("watch", "7"),
        ("watch", "7"),
        ("list", None),
        ("list", None),
        ("watch", "12"),
    ]
    assert [type(e) for e in events] == [Listed, Listed]


def test_a_resource_not_served_is_reported_but_no_answer_is_not() -> None:
    events, _ = reflect([ApiError(0, "refused"), ApiError(503, "starting"), ApiError(404, "nf")])
    assert len(events) == 1
    (unavailable,) = events
    assert isinstance(unavailable, Unavailable)
    assert unavailable.message.startswith("not served by the API server")


def test_nodes_refused_count_as_none_and_are_asked_for_again() -> None:
    labels = {"topology.kubernetes.io/region": "r"}
    node = {
        "metadata": {"name": "n1", "labels": labels, "managedFields": [{"manager": "kubelet"}]},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {"images": [{"names": ["a"] * 100}]},
    }
    refused = ApiError(403, "nodes is forbidden")
    events, api = reflect([refused, ApiError(0, "refused"), refused, page("3", node)], NODES)

    # Listed empty at the first refusal (a view can be served), once; the grant is picked up.
    assert [(type(e), len(e.objects)) for e in events if isinstance(e, Listed)] == [
        (Listed, 0),
        (Listed, 1),
    ]
    assert len(events) == 2
    # Of a Node only its metadata is kept: status changes all the time and is large.
    (kept,) = events[1].objects  # type: ignore[union-attr]
    assert kept == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": labels},
    }
    assert [c for c, _ in api.calls] == ["list"] * 4 + ["watch"]


def test_nodes_are_watched_once_cluster_wide_whatever_the_namespaces() -> None:
    assert NODES.optional and not NODES.namespaced and not SERVICES.optional
    assert NODES.path("ns") == "/api/v1/nodes"
    scopes = [str(s) for s in watch_scopes(("a", "b", "a"))]
    assert [s for s in scopes if s.startswith("nodes")] == ["nodes"]
    assert "services in namespace a" in scopes and "services in namespace b" in scopes


def test_pages_are_listed_as_one() -> None:
    first = {"metadata": {"resourceVersion": "", "continue": "next"}, "items": [service("a")]}
    events, api = reflect([first, page("8", service("b")), []])
    assert api.calls[1][1]["continue"] == "next"
    (listed, *_) = events
    assert isinstance(listed, Listed)
    assert [o["metadata"]["name"] for o in listed.objects] == ["a", "b"]


# --- The store ------------------------------------------------------------------------------


def test_a_view_only_once_every_scope_is_listed_or_missing() -> None:
    services, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    store = Store([services, policies])
    store.apply(Listed(services, (service("a"),)))
    assert not store.synced
    store.apply(Unavailable(policies, "not served"))
    assert store.synced
    assert list(store.update().resources.services) == [("ns", "a")]
    assert [p.message for p in store.update().problems] == ["not served"]

    store.apply(Listed(policies, ()))  # installed after all: the problem goes
    assert store.update().problems == ()


def test_a_relist_replaces_the_scope_whole() -> None:
    scope = Scope(SERVICES, None)
    store = Store([scope])
    store.apply(Listed(scope, (service("a"), service("b"))))
    store.changed.clear()

    store.apply(Listed(scope, (service("b"), service("c"))))

    assert store.changed.is_set()
    assert list(store.update().resources.services) == [("ns", "b"), ("ns", "c")]


def test_a_status_change_alone_is_no_new_view() -> None:
    scope, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    store = Store([scope, policies])
    statuses: list[None] = []
    store.on_status = lambda: statuses.append(None)
    store.apply(Listed(scope, (service("a"),)))
    store.apply(Listed(policies, (bcp("p", {}),)))
    store.changed.clear()

    # Another kind's status (a Service's, a Node's heartbeat) is nothing to the status writer.
    store.apply(Changed(scope, service("a", version="2", status={"loadBalancer": {}})))
    assert not store.changed.is_set() and statuses == []
    # A policy's status (someone else's write) is: the writer checks ours still stands.
    store.apply(Changed(policies, {**bcp("p", {}), "status": {"ancestors": []}}))
    assert not store.changed.is_set() and len(statuses) == 1

    store.apply(Changed(scope, service("a", version="3", port=9000)))
    assert store.changed.is_set()


def test_an_invalid_version_keeps_the_last_valid_one_until_deleted() -> None:
    scope = Scope(POLICIES, None)
    store = Store([scope])
    good = bcp("p", {"connectTimeout": "3s"})
    store.apply(Listed(scope, (good,)))

    store.apply(Changed(scope, bcp("p", {"connectTimeout": "0s"}, generation=2)))
    update = store.update()
    kept = update.resources.policies[("ns", "p")]
    assert kept.metadata.generation == 1
    (problem,) = update.problems
    assert (problem.source, problem.name, problem.field) == (
        "kubernetes",
        "p",
        "spec.connectTimeout",
    )
    assert store.objects(POLICIES)[("ns", "p")]["metadata"]["generation"] == 2  # as stored

    store.apply(Deleted(scope, good))
    assert store.update().resources.policies == {} and store.update().problems == ()


def no_comparing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resources.compare (the O(N) way to learn what changed) fails the test if called."""

    def compare(self: Resources, older: Resources) -> frozenset[ObjectKey]:
        raise AssertionError("compared every object")

    monkeypatch.setattr(Resources, "compare", compare)


def test_each_view_names_what_changed_since_the_last_without_comparing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    store = Store([services, policies])
    store.apply(Listed(services, (service("a"), service("b"), service("c"))))
    store.apply(Listed(policies, (bcp("p", {}),)))
    first = store.update().resources
    no_comparing(monkeypatch)

    store.apply(Changed(services, service("b", version="2", port=9000)))
    second = store.update().resources
    assert second.changes_since(first) == {("Service", "ns", "b")}
    assert second.services[("ns", "b")].spec.ports[0].port == 9000

    store.apply(Deleted(services, service("c")))
    store.apply(Changed(policies, bcp("q", {})))
    third = store.update().resources
    assert third.changes_since(second) == {
        ("Service", "ns", "c"),
        ("BackendConfigPolicy", "ns", "q"),
    }
    assert third.changes_since(first) == {
        ("Service", "ns", "b"),
        ("Service", "ns", "c"),
        ("BackendConfigPolicy", "ns", "q"),
    }
    # A status written (by xdscp or anyone) is no change of configuration.
    store.apply(Changed(policies, {**bcp("q", {}), "status": {"ancestors": []}}))
    assert store.update().resources.changes_since(third) == frozenset()


def test_a_relist_names_only_what_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    scope = Scope(SERVICES, None)
    store = Store([scope])
    store.apply(Listed(scope, (service("a"), service("b"), service("c"))))
    first = store.update().resources
    no_comparing(monkeypatch)

    # As after an API server restart: new copies of the same, and nothing to tell.
    store.apply(Listed(scope, (service("a"), service("b"), service("c"))))
    assert store.update().resources.changes_since(first) == frozenset()

    store.apply(Listed(scope, (service("a"), service("b", version="2", port=9000))))
    second = store.update().resources
    assert second.changes_since(first) == {("Service", "ns", "b"), ("Service", "ns", "c")}
    assert list(second.services) == [("ns", "a"), ("ns", "b")]


def test_an_invalid_version_changes_nothing_served_until_it_is_fixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scope = Scope(POLICIES, None)
    store = Store([scope])
    store.apply(Listed(scope, (bcp("p", {"connectTimeout": "3s"}),)))
    first = store.update()
    no_comparing(monkeypatch)

    store.apply(Changed(scope, bcp("p", {"connectTimeout": "0s"}, generation=2)))
    held = store.update()
    assert held.resources.changes_since(first.resources) == frozenset()
    assert [p.field for p in held.problems] == ["spec.connectTimeout"]

    store.apply(Changed(scope, bcp("p", {"connectTimeout": "5s"}, generation=3)))
    fixed = store.update()
    assert fixed.resources.changes_since(held.resources) == {("BackendConfigPolicy", "ns", "p")}
    assert fixed.problems == ()
    # Never valid: nothing served, the problem told, and gone with the object.
    store.apply(Changed(scope, bcp("bad", {"connectTimeout": "0s"})))
    assert store.update().resources.changes_since(fixed.resources) == frozenset()
    assert [p.name for p in store.update().problems] == ["bad"]
    store.apply(Deleted(scope, bcp("bad", {})))
    assert store.update().problems == ()


def test_the_view_is_what_a_fresh_one_of_every_object_would_be() -> None:
    services, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    events: list[Event] = [
        Listed(services, tuple(service(n) for n in "abcd")),
        Listed(policies, (bcp("p", {}), bcp("q", {}))),
        Changed(services, service("e")),
        Deleted(services, service("a")),
        Changed(policies, bcp("p", {"connectTimeout": "0s"}, generation=2)),  # held back
        Listed(services, (service("b", version="2", port=81), service("e"), service("f"))),
        Deleted(policies, bcp("q", {})),
        Changed(services, service("a")),
        Changed(policies, bcp("p", {"connectTimeout": "1s"}, generation=3)),
    ]
    store = Store([services, policies])
    for n, event in enumerate(events):
        store.apply(event)
        if not store.synced:
            continue
        view = store.update()
        # A store that builds its first view only now builds it from every object.
        fresh = Store([services, policies])
        for earlier in events[: n + 1]:
            fresh.apply(earlier)
        assert view == fresh.update()


# --- Conditions -----------------------------------------------------------------------------


def found(*targets: tuple[str, Accepted, Attached], generation: int = 1) -> PolicyStatus:
    return PolicyStatus(
        "ns",
        "p",
        generation,
        tuple(
            AncestorStatus("", "Service", "ns", name, accepted, "why", attached, "how")
            for name, accepted, attached in targets
        ),
    )


def by_type(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in entry["conditions"]}


def test_one_entry_per_target_in_the_crds_shape() -> None:
    status = found(("httpbin", Accepted.VALID, Attached.ATTACHED))
    (entry,) = ancestors(bcp("p", {}), status, (), (), NOW) or []
    assert entry["ancestorRef"] == {
        "group": "",
        "kind": "Service",
        "namespace": "ns",
        "name": "httpbin",
    }
    assert entry["controllerName"] == CONTROLLER
    assert by_type(entry) == {
        "Accepted": {
            "type": "Accepted",
            "status": "True",
            "reason": "Valid",
            "message": "why",
            "observedGeneration": 1,
            "lastTransitionTime": NOW,
        },
        "Attached": {
            "type": "Attached",
            "status": "True",
            "reason": "Attached",
            "message": "how",
            "observedGeneration": 1,
            "lastTransitionTime": NOW,
        },
    }


def test_transition_times_move_only_with_the_status() -> None:
    before = (
        ancestors(
            bcp("p", {}), found(("httpbin", Accepted.VALID, Attached.ATTACHED)), (), (), EARLIER
        )
        or []
    )
    merged = found(("httpbin", Accepted.VALID, Attached.MERGED), generation=2)
    same = ancestors(bcp("p", {}, generation=2), merged, (), before, NOW) or []
    assert {t: c["lastTransitionTime"] for t, c in by_type(same[0]).items()} == {
        "Accepted": EARLIER,
        "Attached": EARLIER,
    }
    missing = found(("httpbin", Accepted.TARGET_NOT_FOUND, Attached.PENDING))
    moved = ancestors(bcp("p", {}), missing, (), before, NOW) or []
    assert {t: c["lastTransitionTime"] for t, c in by_type(moved[0]).items()} == {
        "Accepted": NOW,
        "Attached": NOW,
    }


def test_other_controllers_entries_are_kept() -> None:
    theirs = {"ancestorRef": {"name": "gw"}, "controllerName": "kgateway.dev/kgateway"}
    status = found(("httpbin", Accepted.VALID, Attached.ATTACHED))
    entries = ancestors(bcp("p", {}), status, (), [theirs], NOW) or []
    assert entries[0] == theirs and entries[1]["controllerName"] == CONTROLLER


def test_invalid_on_every_named_target_with_the_last_valid_version_still_attached() -> None:
    policy = bcp("p", {"connectTimeout": "0s"}, generation=3)
    policy["spec"]["targetRefs"].append({"group": "", "kind": "Service", "name": "other"})
    problem = Problem("kubernetes", "BackendConfigPolicy", "ns", "p", "spec.connectTimeout", "0")
    last_valid = found(("httpbin", Accepted.VALID, Attached.ATTACHED), generation=2)

    entries = ancestors(policy, last_valid, [problem], (), NOW) or []

    httpbin, other = (by_type(e) for e in entries)
    assert [e["ancestorRef"]["name"] for e in entries] == ["httpbin", "other"]
    assert (httpbin["Accepted"]["reason"], httpbin["Accepted"]["message"]) == (
        "Invalid",
        "spec.connectTimeout: 0",
    )
    assert httpbin["Accepted"]["observedGeneration"] == 3
    assert httpbin["Attached"]["status"] == "True"
    assert httpbin["Attached"]["message"] == "generation 2 still applies: how"
    assert (other["Attached"]["status"], other["Attached"]["reason"]) == ("False", "Pending")


def test_nothing_to_say_and_too_much_to_say() -> None:
    assert ancestors(bcp("p", {}), None, (), (), NOW) is None
    many = found(*((f"s{i:02}", Accepted.VALID, Attached.ATTACHED) for i in range(20)))
    assert len(ancestors(bcp("p", {}), many, (), (), NOW) or []) == MAX_ANCESTORS


# --- The command line -----------------------------------------------------------------------


def test_serve_takes_paths_or_kubernetes_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--kubernetes", "policies"]) == 2
    assert cli.main(["serve"]) == 2
    assert "give YAML files or directories, or --kubernetes" in capsys.readouterr().err


def test_serve_kubernetes_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    shown = capsys.readouterr().out
    for flag in (
        "--kubernetes",
        "--kubeconfig",
        "--namespace",
        "--lease-namespace",
        "--lease-name",
        "--pod-name",
        "--lease-duration",
    ):
        assert flag in shown


# --- What is held in memory -----------------------------------------------------------------

SLICES = next(r for r in WATCHED if r.kind == "EndpointSlice")
BOOKKEEPING = {
    "uid": "6f1d3c1e-0000-4000-8000-000000000000",
    "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:ports": {}}}}],
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 500 + "}"},
    "creationTimestamp": "2026-01-01T00:00:00Z",
    "generation": 1,
    "resourceVersion": "41",
}


def as_served(resource: Resource, body: dict[str, Any]) -> dict[str, Any]:
    """A list item as the API server sends it: no apiVersion and kind, every bookkeeping
    field of a real object."""
    rest = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    return {**rest, "metadata": {**body["metadata"], **BOOKKEEPING}}


def test_what_is_kept_of_an_object_loads_as_the_whole_object_does() -> None:
    full_service = as_served(
        SERVICES,
        service(
            "a",
            spec={
                "ports": [{"name": "grpc", "port": 9000, "targetPort": 9000}],
                "selector": {"app": "a"},
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "type": "ClusterIP",
            },
            status={"loadBalancer": {}},
        ),
    )
    endpoint = {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": False, "serving": True, "terminating": True},
        "zone": "z1",
        "nodeName": "n1",
        "targetRef": {"kind": "Pod", "name": "a-1", "namespace": "ns", "uid": "u"},
        "hints": {"forZones": [{"name": "z1"}]},
    }
    full_slice = as_served(
        SLICES,
        {
            "metadata": {
                "name": "a-x1",
                "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "a"},
                "ownerReferences": [{"kind": "Service", "name": "a", "uid": "u"}],
            },
            "addressType": "IPv4",
            "endpoints": [endpoint],
            "ports": [{"name": "grpc", "port": 9000, "protocol": "TCP"}],
        },
    )
    full_policy = as_served(POLICIES, bcp("p", {"connectTimeout": "3s"}))
    full_policy["status"] = {"ancestors": []}

    for resource, full in ((SERVICES, full_service), (SLICES, full_slice), (POLICIES, full_policy)):
        trimmed = kept(resource, full)
        whole = {**full, "apiVersion": resource.api_version, "kind": resource.kind}
        assert load_one(trimmed) == load_one(whole), resource.kind
        assert "managedFields" not in trimmed["metadata"]
        assert "annotations" not in trimmed["metadata"]
        assert len(json.dumps(trimmed)) < len(json.dumps(whole)) / 2, resource.kind
    assert kept(SLICES, full_slice)["endpoints"][0].keys() == {
        "addresses",
        "conditions",
        "zone",
        "nodeName",
    }
    # What the status writer compares and writes back is kept.
    policy = kept(POLICIES, full_policy)
    assert policy["status"] == {"ancestors": []} and policy["spec"] == full_policy["spec"]
    assert policy["metadata"]["resourceVersion"] == "41"


def test_the_kept_bodies_of_policies_hold_each_string_once() -> None:
    """Policies' bodies are kept (their status is written): equal strings of two of them (from
    two JSON parses) are one object, and the bodies stay equal to what was listed."""
    one, other = (json.loads(json.dumps({**bcp(n, {}), "status": {"ancestors": []}})) for n in "ab")
    assert one["metadata"]["namespace"] is not other["metadata"]["namespace"]
    a, b = kept(POLICIES, one), kept(POLICIES, other)
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert a["spec"]["targetRefs"][0]["kind"] is b["spec"]["targetRefs"][0]["kind"]
    assert a == {**one, "apiVersion": POLICIES.api_version, "kind": POLICIES.kind}


def load_one(body: dict[str, Any]) -> dict[str, Any]:
    loaded = load([Document("kubernetes", body)], {})
    assert not loaded.problems, loaded.problems
    (obj,) = loaded.objects.values()
    # What is never read of a policy's metadata (only a kind we own has these fields at all).
    return obj.model_dump(exclude={"metadata": {"uid", "annotations", "managed_fields"}})


def test_a_relist_of_the_same_objects_keeps_what_is_held_and_signals_nothing() -> None:
    services, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    store = Store([services, policies])
    statuses: list[None] = []
    store.on_status = lambda: statuses.append(None)
    written = {**bcp("p", {}), "status": {"ancestors": []}}
    store.apply(Listed(services, (service("a"), service("b"))))
    store.apply(Listed(policies, (written,)))
    view, held = store.update().resources, store.objects(POLICIES)
    store.changed.clear()

    # As after an API server restart: every object again, each a new copy of the same.
    store.apply(Listed(services, (service("a"), service("b"))))
    store.apply(Listed(policies, (copy.deepcopy(written),)))

    assert not store.changed.is_set() and statuses == []
    assert store.update().resources is view  # the very objects: nothing to translate
    again = store.objects(POLICIES)
    assert again is held  # the copies are dropped


def test_only_the_bodies_of_kinds_whose_status_is_written_are_kept() -> None:
    """A Service's body is not held (two thirds of what the watches held): a new version of
    it that configures the same (a status, an annotation) keeps the object served, by
    comparing models; one that configures something else is a change."""
    services, policies = Scope(SERVICES, None), Scope(POLICIES, None)
    store = Store([services, policies])
    service_body, policy_body = Body(service("a")), Body(bcp("p", {}))
    store.apply(Listed(services, (service_body,)))
    store.apply(Listed(policies, (policy_body,)))
    served = store.update().resources.services[("ns", "a")]
    store.changed.clear()
    held = weakref.ref(service_body), weakref.ref(policy_body)
    del service_body, policy_body
    gc.collect()
    assert held[0]() is None and held[1]() is not None

    store.apply(Changed(services, service("a", version="2", status={"loadBalancer": {}})))
    assert not store.changed.is_set()
    assert store.update().resources.services[("ns", "a")] is served

    store.apply(Changed(services, service("a", version="3", port=9000)))
    assert store.changed.is_set()
    assert store.update().resources.services[("ns", "a")].spec.ports[0].port == 9000


def test_a_relist_names_the_unchanged_objects_of_kinds_whose_bodies_are_not_kept() -> None:
    """A Service listed again at the version handed on is dropped as soon as parsed: only its
    name goes on, and the store keeps what it holds (a relist of 10,000 unchanged Services holds
    no second copy of them)."""
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
    events, _ = reflect(
        [
            page("7", service("a", version="5"), service("b", version="5"), service("c")),
            [gone],
            page("9", service("a", version="5"), service("b", version="8", port=9000)),
        ]
    )
    first, second = (e for e in events if isinstance(e, Listed))
    assert [o["metadata"]["name"] for o in second.objects] == ["b"]
    assert second.unchanged == {("ns", "a")}

    scope = Scope(SERVICES, None)
    store = Store([scope])
    store.apply(first)
    held = store.update().resources.services
    store.changed.clear()
    store.apply(second)
    after = store.update().resources.services
    assert store.changed.is_set()
    assert after[("ns", "a")] is held[("ns", "a")]  # kept as it was, never validated again
    assert after[("ns", "b")].spec.ports[0].port == 9000
    assert ("ns", "c") not in after  # neither listed nor named: gone


class Body(dict[str, Any]):
    """A body that can be looked after (a dict cannot be referred to weakly)."""


def test_a_relist_hands_on_the_objects_already_held_where_nothing_changed() -> None:
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
    same, changed = bcp("a", {}), bcp("b", {})
    events, _ = reflect(
        [
            page("7", same, changed),
            [gone],
            page("9", copy.deepcopy(same), bcp("b", {"connectTimeout": "3s"}, generation=2)),
        ],
        POLICIES,
    )
    first, second = (e for e in events if isinstance(e, Listed))
    # The server's copy of `a` is dropped for the object handed on before: a relist of
    # 10,000 unchanged objects never holds two copies of each (RSS would keep the peak).
    assert second.objects[0] is first.objects[0]
    assert second.objects[1] is not first.objects[1]
    assert second.objects[1]["spec"]["connectTimeout"] == "3s"


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_a_change_after_a_quiet_spell_is_served_at_once_and_a_burst_waits_the_debounce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One PATCH is one event: waiting the debounce for more would add its length to every
    push. Changes that keep coming still make at most one view per debounce."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    monkeypatch.setattr(KubernetesSource, "_start_reflectors", lambda self, loop: None)
    source = KubernetesSource(KubernetesConfig(kubeconfig, lease_namespace="ns", identity="i"))
    services = Scope(SERVICES, None)

    async def run() -> None:
        views = source.updates(debounce_ms=600_000)
        for scope in source.store._entries:
            source.store.apply(Listed(scope, (service("a"),) if scope == services else ()))
        first = await asyncio.wait_for(anext(views), 10)  # not after ten minutes
        assert list(first.resources.services) == [("ns", "a")]
        source.store.apply(Changed(services, service("b")))
        source.store.apply(Changed(services, service("c")))
        with pytest.raises(TimeoutError):  # the burst waits out the debounce
            await asyncio.wait_for(anext(views), 0.3)

    asyncio.run(run())
