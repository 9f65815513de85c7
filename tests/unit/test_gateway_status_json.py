"""Gateway and HTTPRoute status as xdscp writes it to the API server: Gateway API's shape,
times kept while a condition holds, other controllers' parents left alone."""

from __future__ import annotations

from xdscp.gatewaystatus import (
    CONTROLLER,
    GatewayStatus,
    ListenerStatus,
    ParentStatus,
    RouteStatus,
)
from xdscp.model.problems import Problem
from xdscp.sources.kubernetes.conditions import (
    gateway_status,
    invalid_route,
    route_parents,
)
from xdscp.status import Condition

GROUP = "gateway.networking.k8s.io"
ACCEPTED = Condition("Accepted", True, "Accepted", "attached")


def gateway(generation: int, attached: int) -> GatewayStatus:
    listener = ListenerStatus("http", attached, (Condition("Accepted", True, "Accepted", "ok"),))
    return GatewayStatus(
        "infra",
        "public",
        generation,
        (Condition("Programmed", True, "Programmed", "ok"),),
        (listener,),
    )


def test_a_gateways_conditions_and_listeners_in_gateway_apis_shape() -> None:
    status = gateway_status(gateway(3, 2), {}, "T1")
    assert status["conditions"] == [
        {
            "type": "Programmed",
            "status": "True",
            "reason": "Programmed",
            "message": "ok",
            "observedGeneration": 3,
            "lastTransitionTime": "T1",
        }
    ]
    (listener,) = status["listeners"]
    assert listener["name"] == "http" and listener["attachedRoutes"] == 2
    assert listener["supportedKinds"] == [{"group": GROUP, "kind": "HTTPRoute"}]
    assert listener["conditions"][0]["lastTransitionTime"] == "T1"


def test_the_same_findings_later_are_the_same_status() -> None:
    """What makes the writer write only on change: nothing new compares equal."""
    first = gateway_status(gateway(3, 2), {}, "T1")
    assert gateway_status(gateway(3, 2), first, "T2") == first
    moved = gateway_status(gateway(3, 1), first, "T2")
    assert moved["listeners"][0]["attachedRoutes"] == 1
    assert moved["listeners"][0]["conditions"][0]["lastTransitionTime"] == "T1"  # still True


def parent(name: str, *conditions: Condition) -> ParentStatus:
    return ParentStatus(GROUP, "Gateway", "infra", name, None, None, conditions)


def test_route_parents_keep_other_controllers_and_times() -> None:
    theirs = {
        "parentRef": {"name": "public", "namespace": "infra"},
        "controllerName": "kgateway.dev/kgateway",
        "conditions": [],
    }
    found = RouteStatus("apps", "site", 1, (parent("public", ACCEPTED),))
    first = route_parents(found, [theirs], "T1")
    assert first[0] is theirs
    assert first[1]["controllerName"] == CONTROLLER
    assert first[1]["parentRef"] == {
        "group": GROUP,
        "kind": "Gateway",
        "namespace": "infra",
        "name": "public",
    }
    assert route_parents(found, first, "T2") == first
    refused = RouteStatus(
        "apps",
        "site",
        2,
        (parent("public", Condition("Accepted", False, "NoMatchingParent", "x")),),
    )
    (_, ours) = route_parents(refused, first, "T3")
    assert ours["conditions"][0]["lastTransitionTime"] == "T3"
    assert ours["conditions"][0]["observedGeneration"] == 2


def test_a_route_xdscp_cannot_read_is_not_accepted_by_the_gateways_it_names() -> None:
    body = {
        "metadata": {"name": "site", "namespace": "apps", "generation": 4},
        "spec": {"parentRefs": [{"name": "public", "namespace": "infra", "sectionName": "http"}]},
    }
    problem = Problem("kubernetes", "HTTPRoute", "apps", "site", "spec.rules[0]", "bad regex")
    status = invalid_route(body, [problem])
    (entry,) = route_parents(status, [], "T1")
    assert entry["parentRef"]["sectionName"] == "http"
    assert entry["conditions"][0]["reason"] == "UnsupportedValue"
    assert entry["conditions"][0]["message"] == "spec.rules[0]: bad regex"
    assert entry["conditions"][0]["observedGeneration"] == 4
