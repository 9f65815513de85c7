"""Equal parts of loaded objects are held once, and sharing them changes nothing an object says."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_properties import policy, service, spec_blocks
from xdscp import render
from xdscp.model.base import KubeObject
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.model.service import Service
from xdscp.translate import translate


def loaded(*bodies: dict[str, Any]) -> list[KubeObject]:
    result = load([Document("test", body) for body in bodies], {})
    assert not result.problems
    return list(result.objects.values())


def with_ports(name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    body = service(name)
    body["spec"]["ports"] = list(ports)
    return body


def test_equal_ports_of_two_services_are_one_object_and_the_services_stay_two() -> None:
    port = {"name": "http", "port": 8080}
    a, b = loaded(with_ports("a", port), with_ports("b", dict(port)))
    assert isinstance(a, Service) and isinstance(b, Service)
    assert a is not b and a.metadata is not b.metadata
    assert a.spec.ports[0] is b.spec.ports[0]
    assert a.spec is b.spec


def test_parts_that_differ_only_in_what_was_written_stay_apart() -> None:
    """`protocol: TCP` written and left to its default are equal values, but a policy's
    merge reads which fields were written (`model_fields_set`)."""
    a, b = loaded(with_ports("a", {"port": 80, "protocol": "TCP"}), with_ports("b", {"port": 80}))
    assert isinstance(a, Service) and isinstance(b, Service)
    assert a.spec.ports[0] == b.spec.ports[0]
    assert a.spec.ports[0] is not b.spec.ports[0]
    assert a.spec.ports[0].model_fields_set == {"port", "protocol"}
    assert b.spec.ports[0].model_fields_set == {"port"}


def test_a_part_is_let_go_with_the_last_object_holding_it() -> None:
    (obj,) = loaded(with_ports("lonely", {"name": "rare", "port": 4321}))
    assert isinstance(obj, Service)
    port = weakref.ref(obj.spec.ports[0])
    del obj
    gc.collect()
    assert port() is None


@settings(max_examples=40, deadline=None)
@given(st.lists(spec_blocks, min_size=2, max_size=6))
def test_policies_loaded_together_say_what_each_says_alone(specs: list[dict[str, Any]]) -> None:
    """Shared or not, every object is equal to itself validated alone, with the same fields
    written (what the merge reads), and translates to the same clusters."""
    bodies = [service("s")] + [policy(f"p{i}", "s", spec) for i, spec in enumerate(specs)]
    together = load([Document("test", body) for body in bodies], {}).objects.values()
    by_name = {body["metadata"]["name"]: body for body in bodies}
    alone = [type(o).model_validate(by_name[o.metadata.name]) for o in together]
    for shared, apart in zip(together, alone, strict=True):
        assert shared == apart
        assert shared.model_dump(exclude_unset=True) == apart.model_dump(exclude_unset=True)
    one, other = translate(Resources.of(together)), translate(Resources.of(alone))
    assert render.document(one, explain=True) == render.document(other, explain=True)
