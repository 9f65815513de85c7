"""The registry of resource types: the orders it gives are the protocol's, and every stage has
a table for every type it lists."""

from __future__ import annotations

from xdscp.render import document
from xdscp.resourcetypes import (
    BY_URL,
    CLUSTER,
    ENDPOINT,
    LISTENER,
    PUSH_ORDER,
    REGISTRY,
    REMOVAL_ORDER,
    ROUTE,
    SECRET,
    SHORT_NAMES,
    WILDCARD_BY_DEFAULT,
)
from xdscp.snapshot import Snapshot
from xdscp.translate import Translation
from xdscp.translate.translation import MESSAGES


def test_make_before_break() -> None:
    # Secrets before the clusters that name them; removed after them.
    assert PUSH_ORDER == (SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE)
    assert REMOVAL_ORDER == (ROUTE, LISTENER, ENDPOINT, CLUSTER, SECRET)
    assert {CLUSTER, LISTENER} == WILDCARD_BY_DEFAULT
    assert list(SHORT_NAMES.values()) == ["sds", "cds", "eds", "lds", "rds"]


def test_a_type_is_pushed_after_the_type_its_versions_cover() -> None:
    for resource_type in REGISTRY:
        if resource_type.versioned_with:
            covered = BY_URL[resource_type.versioned_with]
            assert covered.push_rank < resource_type.push_rank


def test_ranks_and_names_are_unique() -> None:
    for attribute in ("url", "short", "key", "push_rank", "removal_rank"):
        values = [getattr(t, attribute) for t in REGISTRY]
        assert len(set(values)) == len(values), attribute


def test_every_stage_has_a_table_for_every_type() -> None:
    translation = Translation()
    assert set(translation.resources) == set(BY_URL)
    assert set(MESSAGES) == set(BY_URL)  # every translated resource decodes
    assert set(Snapshot.build(translation).resources) == set(BY_URL)
    assert set(document(translation)) == {t.key for t in REGISTRY}
