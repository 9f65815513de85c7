"""The translator kept between views: a translation that raises leaves it as it was."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.endpoint.v3 import endpoint_pb2

from xdscp import render
from xdscp.model.load import Document, load
from xdscp.model.node import REGION, ZONE
from xdscp.model.resources import Resources
from xdscp.model.service import EndpointSlice
from xdscp.resourcetypes import CLUSTER, ENDPOINT
from xdscp.translate import Translator, translate
from xdscp.translate import translator as translator_module
from xdscp.translate.outputs import service_output


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }


def keepalive(probes: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "a"}],
            "tcpKeepalive": {"keepAliveProbes": probes},
        },
    }


def objects(*bodies: dict[str, Any]) -> list[Any]:
    loaded = load([Document("test", body) for body in bodies], {})
    assert loaded.problems == []
    return list(loaded.objects.values())


def test_a_translation_that_raises_leaves_the_translator_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    translator = Translator()
    view = Resources.of(objects(service("a"), keepalive(3)))
    first = translator.translate(view)
    failing = view.replacing(objects(keepalive(5), service("boom")))
    real = service_output

    def fails_on_boom(service: Any, *args: Any) -> Any:
        if service.metadata.name == "boom":
            raise ValueError("a translator bug")
        return real(service, *args)

    monkeypatch.setattr(translator_module, "service_output", fails_on_boom)
    with pytest.raises(ValueError, match="a translator bug"):
        translator.translate(failing)
    monkeypatch.undo()
    again = translator.translate(failing)
    assert again.base == first.serial  # made from the last that succeeded
    assert again.changed is not None and set(again.changed[CLUSTER]) == {
        "kube_ns_a_80",
        "kube_ns_boom_80",
    }
    fresh = translate(failing)
    assert render.document(again, explain=True) == render.document(fresh, explain=True)


def endpoint_slice(service: str, node: str) -> dict[str, Any]:
    """One endpoint of `service`, on `node`."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": service,
            "namespace": "ns",
            "labels": {EndpointSlice.SERVICE_LABEL: service},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}],
        "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": node}],
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def test_a_zone_given_another_region_moves_the_endpoints_of_its_other_nodes() -> None:
    """An endpoint on a Node without a region label is in the region of its zone's other Nodes:
    when one of those changes region, so does the endpoint, though its own Node did not
    change."""
    translator = Translator()
    view = Resources.of(
        objects(
            service("a"),
            endpoint_slice("a", "bare"),
            node("bare", **{ZONE: "z"}),
            node("labelled", **{ZONE: "z", REGION: "r1"}),
        )
    )
    translator.translate(view)
    moved = view.replacing(objects(node("labelled", **{ZONE: "z", REGION: "r2"})))
    assignment = translator.translate(moved).message(ENDPOINT, "kube_ns_a_80")
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    (endpoints_there,) = assignment.endpoints
    assert endpoints_there.locality.region == "r2"


def test_a_node_relabelled_translates_again_only_the_services_with_endpoints_there() -> None:
    translator = Translator()
    view = Resources.of(
        objects(
            service("a"),
            service("b"),
            endpoint_slice("a", "n0"),
            endpoint_slice("b", "n1"),
            node("n0", **{ZONE: "z0"}),
            node("n1", **{ZONE: "z1"}),
        )
    )
    translator.translate(view)
    after = translator.translate(view.replacing(objects(node("n1", **{ZONE: "z2"}))))
    assert after.changed is not None and after.changed[ENDPOINT] == {"kube_ns_b_80"}
