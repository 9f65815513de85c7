"""What the pipeline returns is what is served: the admin documents are built from it, and its
findings go to the status sinks; a view that fails to translate leaves the last one served."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live import ROOT
from xdscp.app import load
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.model.resources import Resources
from xdscp.pipeline import Pipeline, PolicyWarnings
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.server.admin import policies_document, status_document
from xdscp.status import Accepted, AncestorStatus, Attached, PolicyStatus
from xdscp.translate import Options, Translation, Translator

INVALID = ROOT / "tests" / "golden" / "backendconfigpolicy" / "invalid-beside-valid.in.yaml"


def test_apply_returns_the_view_served_and_its_findings() -> None:
    cache = SnapshotCache()
    served = Pipeline(cache, Metrics(), Options()).apply(load((INVALID,)))
    assert served is not None
    assert all(cache.get(group) is s for group, s in served.groups.items())  # published
    assert served.findings.problems and all(
        Path(p.source).name == INVALID.name for p in served.findings.problems
    )
    assert [s.name for s in served.findings.policies.values()] == ["good"]  # "broken" did not load
    document = policies_document(served)
    assert document["snapshot"] == served.snapshot.version
    assert document["problems"] == [str(p) for p in served.findings.problems]
    assert [p["policy"] for p in document["policies"]] == ["ns/good"]


def test_a_failed_translation_returns_the_last_view_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = Pipeline(SnapshotCache(), Metrics(), Options())
    first = pipeline.apply(load((ROOT / "policies",)))

    def broken(*_: object) -> None:
        raise RuntimeError("a translator bug")

    monkeypatch.setattr(Translator, "translate", broken)
    again = pipeline.apply(load((INVALID,)))
    assert first is not None and again is not None
    assert again.snapshot is first.snapshot
    assert again.stale == "the latest input failed to translate: a translator bug"


def test_admin_documents_before_and_after_a_view_is_served() -> None:
    assert status_document(None, []) == {
        "snapshot": "(none)",
        "versions": {},
        "groups": {},
        "stale": "",
        "streams": [],
    }
    assert policies_document(None) == {
        "snapshot": "(none)",
        "stale": "",
        "problems": [],
        "policies": [],
        "gateways": [],
        "httproutes": [],
    }
    served = Pipeline(SnapshotCache(), Metrics(), Options()).apply(load((ROOT / "policies",)))
    assert served is not None
    document = status_document(served, [])
    assert document["snapshot"] == served.snapshot.version
    assert document["versions"] == {
        short: served.snapshot.versions[url] for url, short in SHORT_NAMES.items()
    }
    assert set(document["groups"]) == set(served.groups)


def test_serve_logs_a_policy_accepted_with_a_reservation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`xdscp validate` warns of a policy whose target is missing; `serve` says the same in its
    log (once per change), or an operator with a typo in targetRefs never learns of it."""
    policy = tmp_path / "typo.yaml"
    policy.write_text(
        "apiVersion: gateway.kgateway.dev/v1alpha1\n"
        "kind: BackendConfigPolicy\n"
        "metadata: {name: typo, namespace: httpbin}\n"
        "spec:\n"
        "  targetRefs: [{group: '', kind: Service, name: htpbin}]\n"
        "  connectTimeout: 2s\n"
    )
    pipeline = Pipeline(SnapshotCache(), Metrics(), Options())
    with caplog.at_level("WARNING", logger="xdscp"):
        pipeline.apply(load((ROOT / "policies", policy)))
        pipeline.apply(load((ROOT / "policies", policy)))
    lines = [r.getMessage() for r in caplog.records if "httpbin/typo" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "TargetNotFound" in lines[0] and "htpbin" in lines[0]


def reserved(name: str, accepted: Accepted) -> PolicyStatus:
    target = AncestorStatus("", "Service", "ns", name, accepted, "why", Attached.ATTACHED, "ok")
    return PolicyStatus("ns", name, 1, (target,))


def test_warnings_follow_the_statuses_a_translation_says_changed() -> None:
    """The warnings logged are brought up to date by the statuses a translation says changed
    (since the one before); told nothing usable, by every status."""
    warnings = PolicyWarnings()
    statuses = {("ns", n): reserved(n, Accepted.TARGET_NOT_FOUND) for n in ("a", "b")}
    first = Translation(statuses=statuses, serial=1)
    assert warnings.update(first, Resources())
    assert sorted(p.name for p in warnings.every()) == ["a", "b"]
    fixed = {**statuses, ("ns", "a"): reserved("a", Accepted.VALID)}
    second = Translation(
        statuses=fixed, serial=2, base=1, changed_statuses=frozenset({("ns", "a")})
    )
    assert warnings.update(second, Resources())
    assert [p.name for p in warnings.every()] == ["b"]
    assert not warnings.update(
        Translation(statuses=fixed, serial=3, base=2, changed_statuses=frozenset()), Resources()
    )
    # Told nothing, or of another base: every status is looked at.
    gone = Translation(statuses={}, serial=4, base=1, changed_statuses=frozenset())
    assert warnings.update(gone, Resources())
    assert list(warnings.every()) == []


def test_findings_say_which_policies_changed_when_the_translation_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sink is told the statuses changed since the findings published before, when the
    translation is relative to the one those came from; else that any may have."""
    made = iter(
        [
            Translation(serial=1),
            Translation(serial=2, base=1, changed_statuses=frozenset({("ns", "a")})),
            Translation(serial=3, base=1, changed_statuses=frozenset()),  # not the last served
        ]
    )
    monkeypatch.setattr(Translator, "translate", lambda *_: next(made))
    pipeline = Pipeline(SnapshotCache(), Metrics(), Options())
    found = [pipeline.apply(load((ROOT / "policies",))) for _ in range(3)]
    assert [s.findings.changed_policies if s else "-" for s in found] == [
        None,
        frozenset({("ns", "a")}),
        None,
    ]
