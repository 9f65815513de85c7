"""After a big update the served objects are out of the garbage collector's way: a full
collection no longer walks them, so it cannot stop the event loop for long mid-serving."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.unit.test_snapshot import POLICIES, build
from xdscp import heap
from xdscp.app import load
from xdscp.served import Served
from xdscp.snapshot import Snapshot
from xdscp.translate import translate


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_first_view_is_frozen() -> None:
    first = build()
    assert first.changed is None  # built from nothing: everything in it is new
    heap.settle(Served(first))
    assert gc.get_freeze_count() > 0


def test_a_small_change_is_left_to_the_young_generations() -> None:
    before = build()
    second = Snapshot.build(translate(load(POLICIES).resources), before)
    assert second.changed is not None and sum(map(len, second.changed.values())) < 10
    heap.settle(Served(second))
    assert gc.get_freeze_count() == 0
