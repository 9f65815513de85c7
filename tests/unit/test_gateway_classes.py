"""Which Gateways xdscp serves: those of a GatewayClass naming its controller; in files, also
those whose class the files do not declare. Another controller's Gateway gets nothing: no
listener, no status, and routes attached to it get no parent entry from xdscp."""

from __future__ import annotations

from typing import Any

from tests.gatewaylab import gateway, gateway_class, route, to_httpbin
from xdscp.gatewaystatus import CONTROLLER
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.resourcetypes import LISTENER
from xdscp.translate import Options, Translation, translate

FILES = Options()


def translated(*bodies: dict[str, Any], options: Options = FILES) -> Translation:
    loaded = load([Document("test.yaml", b) for b in bodies], {})
    assert not loaded.problems
    return translate(Resources.of(loaded.objects.values()), options)


def test_a_gateway_of_an_undeclared_class_is_served_from_files_only() -> None:
    objects = (gateway("infra", "public"), route("infra", "site", "public", "infra", to_httpbin()))
    assert set(translated(*objects).resources[LISTENER]) == {"infra/public/http"}
    in_kubernetes = translated(*objects, options=Options(undeclared_classes=False))
    assert not in_kubernetes.resources[LISTENER]
    assert in_kubernetes.gateway_statuses == []
    assert [s.parents for s in in_kubernetes.route_statuses] == [()]
    (why,) = [p for p in in_kubernetes.problems if p.kind == "Gateway"]
    assert why.warning and why.field == "spec.gatewayClassName"
    assert "GatewayClass 'kgateway' does not exist" in why.message


def test_a_class_of_another_controller_keeps_its_gateways_from_xdscp() -> None:
    out = translated(
        gateway_class("kgateway", "kgateway.dev/kgateway"),
        gateway("infra", "public"),
        route("infra", "site", "public", "infra", to_httpbin()),
    )
    assert not out.resources[LISTENER]
    assert out.gateway_statuses == [] and out.class_statuses == ()
    assert [s.parents for s in out.route_statuses] == [()]
    (why,) = [p for p in out.problems if p.kind == "Gateway"]
    assert "'kgateway.dev/kgateway', not 'xdscp.dev/controller'" in why.message


def test_a_class_of_ours_is_accepted_and_its_gateways_served() -> None:
    out = translated(
        gateway_class("kgateway", CONTROLLER),
        gateway_class("istio", "istio.io/gateway-controller"),
        gateway("infra", "public"),
    )
    assert set(out.resources[LISTENER]) == {"infra/public/http"}
    (accepted,) = out.class_statuses
    assert accepted.name == "kgateway"
    assert [(c.type, c.status, c.reason) for c in accepted.conditions] == [
        ("Accepted", True, "Accepted")
    ]
    mine = Options(controller="example.com/mine")
    assert not translated(
        gateway_class("kgateway", CONTROLLER), gateway("infra", "public"), options=mine
    ).resources[LISTENER]
