"""A view made from another by `replacing` tells what changed since it without a comparison,
and says the same as comparing them does."""

from __future__ import annotations

import gc
from typing import Any

from xdscp.model.base import KubeObject
from xdscp.model.load import Document, load
from xdscp.model.resources import ANCESTORS, Resources


def service(name: str, port: int = 80) -> KubeObject:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"ports": [{"name": "http", "port": port}]},
    }
    (obj,) = load([Document("in.yaml", body)], {}).objects.values()
    return obj


def test_replacing_adds_changes_and_removes_and_names_each() -> None:
    first = Resources.of([service("a"), service("b")])
    second = first.replacing([service("a", 81), service("c")], removed=[("Service", "ns", "b")])
    assert list(second.services) == [("ns", "a"), ("ns", "c")]
    assert list(first.services) == [("ns", "a"), ("ns", "b")]  # the older view is untouched
    expected = {("Service", "ns", "a"), ("Service", "ns", "b"), ("Service", "ns", "c")}
    assert second.changes_since(first) == expected
    assert second.compare(first) == expected
    assert second.changes_since(second) == frozenset()


def test_removing_what_is_not_there_changes_nothing() -> None:
    first = Resources.of([service("a")])
    second = first.replacing([], removed=[("Service", "ns", "gone")])
    assert second.changes_since(first) == frozenset()


def test_changes_add_up_over_skipped_views() -> None:
    views = [Resources.of([service("a"), service("b")])]
    for i in range(ANCESTORS):
        views.append(views[-1].replacing([service("a", 100 + i)]))
    views.append(views[-1].replacing([service("b", 99)]))
    both = {("Service", "ns", "a"), ("Service", "ns", "b")}
    assert views[-1].changes_since(views[-3]) == both
    # Further back than it remembers: found by comparing, with the same answer.
    assert views[-1].changes_since(views[0]) == both


def test_a_view_keeps_no_older_view_alive() -> None:
    first = Resources.of([service("a")])
    second = first.replacing([service("b")])
    third = second.replacing([service("c")])
    del second
    gc.collect()
    # The view in between is gone; the first is still remembered.
    assert third.changes_since(first) == {("Service", "ns", "b"), ("Service", "ns", "c")}
    assert len(third._ancestry) == 2
    assert third._ancestry[0][0]() is None
