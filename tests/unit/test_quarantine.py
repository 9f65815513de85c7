"""One object whose translation fails, or whose Envoy resources Envoy refuses, is held at its
last good version; every other change is served."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translations import edited, zero_timeout
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.model.load import Document, load
from xdscp.model.resources import ObjectKey, Resources
from xdscp.pipeline import Pipeline
from xdscp.quarantine import Quarantine
from xdscp.resourcetypes import CLUSTER
from xdscp.served import Served
from xdscp.sources import Update
from xdscp.sources.kubernetes.conditions import ancestors
from xdscp.translate import Options, Translation, Translator

REAL = Translator.translate  # what a test wraps


def service(name: str, port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"ports": [{"name": "http", "port": port}]},
    }


class Objects:
    """Objects as a source keeps them: an unchanged one stays the very same object."""

    def __init__(self) -> None:
        self.kept: dict[Any, Any] = {}

    def update(self, *bodies: dict[str, Any]) -> Update:
        loaded = load((Document("in.yaml", b) for b in bodies), self.kept)
        for key, obj in list(loaded.objects.items()):
            old = self.kept.get(key)
            loaded.objects[key] = old if old is not None and old == obj else obj
        self.kept = dict(loaded.objects)
        return Update(Resources.of(loaded.objects.values()), ())


def clusters(served: Served | None) -> set[str]:
    assert served is not None
    return set(served.snapshot.resources[CLUSTER])


def test_a_failing_translation_holds_only_the_object_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails_on_boom(translator: Translator, resources: Resources) -> Translation:
        if ("ns", "boom") in resources.services:
            raise ValueError("a translator bug")
        return REAL(translator, resources)

    monkeypatch.setattr(Translator, "translate", fails_on_boom)
    metrics = Metrics()
    pipeline, objects = Pipeline(SnapshotCache(), metrics, Options()), Objects()
    assert clusters(pipeline.apply(objects.update(service("a")))) == {"kube_ns_a_80"}

    held = pipeline.apply(objects.update(service("a"), service("boom")))
    assert clusters(held) == {"kube_ns_a_80"}
    assert held is not None and held.stale
    (problem,) = held.findings.problems
    assert (problem.kind, problem.name) == ("Service", "boom")
    assert "translating it failed (ValueError: a translator bug)" in problem.message
    assert metrics.held._value.get() == 1

    later = pipeline.apply(objects.update(service("a"), service("boom"), service("b")))
    assert clusters(later) == {"kube_ns_a_80", "kube_ns_b_80"}  # other changes flow

    fixed = pipeline.apply(objects.update(service("a"), service("b")))
    assert fixed is not None and fixed.stale == "" and fixed.findings.problems == ()
    assert metrics.stale._value.get() == 0


def test_a_nack_holds_the_object_behind_it_and_the_rest_flows() -> None:
    pipeline, objects = Pipeline(SnapshotCache(), Metrics(), Options()), Objects()
    first = pipeline.apply(objects.update(service("a")))
    assert first is not None
    pipeline.verdict(CLUSTER, first.snapshot.serial, None)  # ACKed

    bad = pipeline.apply(objects.update(service("a", 81), service("bad")))
    assert bad is not None and clusters(bad) == {"kube_ns_a_81", "kube_ns_bad_80"}
    held = pipeline.verdict(CLUSTER, bad.snapshot.serial, "no healthy thing")
    # Envoy's error names no object: both objects the refused update changed are held, a at
    # its last good version.
    assert clusters(held) == {"kube_ns_a_80"}
    assert held is not None
    assert {p.name for p in held.findings.problems} == {"a", "bad"}
    assert all(
        "Envoy refused the cds it translates to: no healthy thing" in p.message
        for p in held.findings.problems
    )
    pipeline.verdict(CLUSTER, held.snapshot.serial, None)

    later = pipeline.apply(objects.update(service("a", 82), service("bad"), service("c")))
    assert clusters(later) == {"kube_ns_a_82", "kube_ns_c_80"}
    assert later is not None
    assert [p.name for p in later.findings.problems] == ["bad"]


def test_an_object_envoys_error_names_is_held_alone() -> None:
    pipeline, objects = Pipeline(SnapshotCache(), Metrics(), Options()), Objects()
    first = pipeline.apply(objects.update(service("a")))
    assert first is not None
    pipeline.verdict(CLUSTER, first.snapshot.serial, None)
    bad = pipeline.apply(objects.update(service("a", 81), service("bad")))
    assert bad is not None
    error = "Error adding/updating cluster(s) kube_ns_bad_80: no"
    held = pipeline.verdict(CLUSTER, bad.snapshot.serial, error)
    assert clusters(held) == {"kube_ns_a_81"}  # changed in the same update, and served
    assert held is not None
    assert [p.name for p in held.findings.problems] == ["bad"]


def test_a_held_policy_from_the_api_server_is_not_accepted_on_its_status() -> None:
    """In Kubernetes mode (objects without files) a held object's problem is the object's own,
    so the status writer sets the policy's Accepted False with Envoy's error, while the last
    good version keeps applying."""
    policy: dict[str, Any] = {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "p", "namespace": "ns", "generation": 2},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "a"}],
            "tcpKeepalive": {"keepAliveProbes": 3},
        },
    }
    changed = {**policy, "spec": {**policy["spec"], "tcpKeepalive": {"keepAliveProbes": 4}}}
    pipeline, objects = Pipeline(SnapshotCache(), Metrics(), Options()), Objects()
    first = pipeline.apply(objects.update(service("a"), policy))
    assert first is not None
    pipeline.verdict(CLUSTER, first.snapshot.serial, None)
    bad = pipeline.apply(objects.update(service("a"), changed))
    assert bad is not None
    held = pipeline.verdict(CLUSTER, bad.snapshot.serial, "no")
    assert held is not None
    (problem,) = held.findings.problems
    assert (problem.source, problem.kind, problem.name) == (
        "kubernetes",
        "BackendConfigPolicy",
        "p",
    )
    (status,) = held.findings.policies.values()
    (entry,) = ancestors(changed, status, [problem], [], "now") or []
    accepted, attached = entry["conditions"]
    assert (accepted["type"], accepted["status"]) == ("Accepted", "False")
    assert "Envoy refused the cds it translates to: no" in accepted["message"]
    assert (attached["type"], attached["status"]) == ("Attached", "True")


def test_what_envoy_would_refuse_is_held_before_it_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def zero_timeout_for_boom(translator: Translator, resources: Resources) -> Translation:
        translation = REAL(translator, resources)
        boom = [n for n in ("kube_ns_boom_80",) if n in translation.resources[CLUSTER]]
        return edited(translation, CLUSTER, boom, zero_timeout)

    monkeypatch.setattr(Translator, "translate", zero_timeout_for_boom)
    pipeline, objects = Pipeline(SnapshotCache(), Metrics(), Options()), Objects()
    pipeline.apply(objects.update(service("a")))
    held = pipeline.apply(objects.update(service("a"), service("boom")))
    assert clusters(held) == {"kube_ns_a_80"}
    assert held is not None
    (problem,) = held.findings.problems
    assert problem.name == "boom"
    assert "Envoy would refuse cds kube_ns_boom_80: connect_timeout: must be greater than 0s" in (
        problem.message
    )


def test_before_anything_is_known_good_nothing_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NACK of a type Envoy never ACKed (xdscp just restarted beside Envoys holding an older
    configuration) holds nothing: holding every object would serve that type empty."""
    pipeline, objects = Pipeline(SnapshotCache(), Metrics(), Options()), Objects()
    first = pipeline.apply(objects.update(service("a"), service("bad")))
    assert first is not None
    assert pipeline.verdict(CLUSTER, first.snapshot.serial, "no") is None
    assert clusters(pipeline.served) == {"kube_ns_a_80", "kube_ns_bad_80"}

    def broken(*_: object) -> Translation:
        raise ValueError("a translator bug")

    monkeypatch.setattr(Translator, "translate", broken)
    fresh = Pipeline(SnapshotCache(), Metrics(), Options())
    assert fresh.apply(objects.update(service("a"))) is None  # no empty view is served
    assert fresh.quarantine.held == {}


def test_a_held_object_costs_later_changes_only_what_they_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While an object is held, each view confined names what changed since the last one
    without comparing every object, and holds what a fresh confinement would."""

    def one(body: dict[str, Any]) -> Any:
        (obj,) = load([Document("in.yaml", body)], {}).objects.values()
        return obj

    good = Resources.of([one(service("a")), one(service("b"))])
    bad = good.replacing([one(service("a", 81))])
    quarantine = Quarantine()
    assert quarantine.confine(good) is good  # nothing held: the input itself
    assert quarantine.blame(bad, good, "refused")
    first = quarantine.confine(bad)
    assert first.services[("ns", "a")] is good.services[("ns", "a")]

    def compare(self: Resources, older: Resources) -> frozenset[ObjectKey]:
        raise AssertionError("compared every object")

    monkeypatch.setattr(Resources, "compare", compare)
    # Another object changes, one is added: only they are new, `a` stays held.
    later = bad.replacing([one(service("b", 82)), one(service("c"))])
    second = quarantine.confine(later)
    assert second.changes_since(first) == {("Service", "ns", "b"), ("Service", "ns", "c")}
    assert second.services == {**later.services, ("ns", "a"): good.services[("ns", "a")]}
    assert quarantine.confine(later).changes_since(second) == frozenset()
    # `a` changes: released and served, held no more.
    fixed = later.replacing([one(service("a", 83))])
    third = quarantine.confine(fixed)
    assert third.changes_since(second) == {("Service", "ns", "a")}
    assert third == fixed and quarantine.held == {}
    # Then the input itself again, as when nothing was ever held.
    assert quarantine.confine(fixed) is fixed
