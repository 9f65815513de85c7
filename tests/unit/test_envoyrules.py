"""Envoy's field rules (protoc-gen-validate annotations in xds-protos), checked before serving:
nothing xdscp translates breaks one, and what would be NACKed is named by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2

from tests.live import ROOT
from tests.translations import edited, zero_timeout
from xdscp import app
from xdscp.app import load
from xdscp.envoyrules import violations
from xdscp.resourcetypes import CLUSTER
from xdscp.translate import Translation, translate

GOLDEN = sorted((ROOT / "tests" / "golden").glob("*/*.in.yaml"))


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{c.parent.name}/{c.name}" for c in GOLDEN])
def test_every_golden_translation_keeps_envoys_rules(case: Path) -> None:
    translation = translate(load((case,)).resources)
    broken = {
        name: list(violations(message))
        for type_url in translation.resources
        for name, message in translation.messages(type_url).items()
    }
    assert {name: found for name, found in broken.items() if found} == {}


def test_what_envoy_would_refuse_is_named_by_field() -> None:
    cluster = cluster_pb2.Cluster(name="")
    cluster.connect_timeout.SetInParent()  # zero: Envoy wants more
    assert list(violations(cluster)) == [
        ("name", "must be at least 1 characters"),
        ("connect_timeout", "must be greater than 0s"),
    ]
    route = route_components_pb2.Route(match=route_components_pb2.RouteMatch(prefix="/"))
    route.direct_response.status = 99  # not an HTTP status
    route.request_headers_to_add.add().header.key = "x\ny"
    config = route_pb2.RouteConfiguration(
        name="r",
        virtual_hosts=[route_components_pb2.VirtualHost(name="v", domains=["*"], routes=[route])],
    )
    assert list(violations(config)) == [
        ("virtual_hosts[0].routes[0].direct_response.status", "must be at least 200"),
        (
            "virtual_hosts[0].routes[0].request_headers_to_add[0].header.key",
            "must be a valid http header name",
        ),
    ]


def test_validate_names_what_envoy_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    def zero_timeouts(*args: Any) -> Translation:
        translation = translate(*args)
        return edited(translation, CLUSTER, list(translation.resources[CLUSTER]), zero_timeout)

    monkeypatch.setattr(app, "translate", zero_timeouts)
    problems = app.validate((ROOT / "policies",))
    assert problems == [
        "translate: Cluster kube_httpbin_httpbin_8000: connect_timeout: "
        "Envoy would refuse it: must be greater than 0s"
    ]
