"""--local-cluster: the proxies' own endpoints, by locality, served as xdscp_local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from xdscp import cli
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.render import message_dict
from xdscp.resourcetypes import ENDPOINT
from xdscp.translate import Options, Translator, translate


def resources(*docs: dict[str, Any]) -> Resources:
    loaded = load([Document("test", d) for d in docs], {})
    assert loaded.problems == []
    return Resources.of(loaded.objects.values())


ENVOYS: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "envoy-abc",
        "namespace": "gateways",
        "labels": {"kubernetes.io/service-name": "envoy"},
    },
    "ports": [{"name": "http", "port": 8080}],
    "endpoints": [
        {"addresses": ["10.0.0.1"], "zone": "zone-a", "nodeName": "n1"},
        {"addresses": ["10.0.0.2"], "zone": "zone-b", "conditions": {"ready": False}},
    ],
}
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/region": "eu"}},
}


def test_the_proxies_endpoints_by_locality() -> None:
    out = translate(resources(ENVOYS, NODE), Options(local_cluster=("gateways", "envoy")))
    local = message_dict(out.messages(ENDPOINT)["xdscp_local"])
    assert [(g["locality"], len(g["lb_endpoints"])) for g in local["endpoints"]] == [
        ({"region": "eu", "zone": "zone-a"}, 1)
    ]
    assert out.problems == []


def test_no_such_service_is_reported_and_served_empty() -> None:
    out = translate(resources(ENVOYS), Options(local_cluster=("gateways", "nope")))
    assert message_dict(out.messages(ENDPOINT)["xdscp_local"]) == {"cluster_name": "xdscp_local"}
    (problem,) = out.problems
    assert (problem.source, problem.object) == ("--local-cluster", "Service gateways/nope")


def test_without_the_flag_there_is_no_local_cluster() -> None:
    assert "xdscp_local" not in translate(resources(ENVOYS)).resources[ENDPOINT]


def test_unchanged_nodes_keep_the_local_cluster() -> None:
    translator = Translator(Options(local_cluster=("gateways", "envoy")))
    given = resources(ENVOYS, NODE)
    first = translator.translate(given).resources[ENDPOINT]["xdscp_local"]
    assert translator.translate(given).resources[ENDPOINT]["xdscp_local"] is first
    relabelled = {**NODE, "metadata": {"name": "n1", "labels": {}}}
    changed = translator.translate(resources(ENVOYS, relabelled))
    assert changed.resources[ENDPOINT]["xdscp_local"] is not first


@pytest.mark.parametrize("flag", ["gateways/envoy", "envoy"])
def test_render_takes_the_flag(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NAMESPACE/SERVICE, or SERVICE alone in namespace default."""
    envoys = {**ENVOYS, "metadata": {**ENVOYS["metadata"], "namespace": "default"}}
    path = tmp_path / "envoys.yaml"
    path.write_text(yaml.safe_dump_all([ENVOYS, envoys]))
    assert cli.main(["render", str(path), "-o", "json", "--local-cluster", flag]) == 0
    (local,) = json.loads(capsys.readouterr().out)["endpoints"]
    assert local["cluster_name"] == "xdscp_local"


def test_a_bad_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["render", "x.yaml", "--local-cluster", "a/b/c"])
    assert "is not NAMESPACE/SERVICE" in capsys.readouterr().err


def test_every_node_group_is_served_the_local_cluster() -> None:
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "envoy", "namespace": "gateways"},
        "spec": {
            "gatewayClassName": "kgateway",
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}],
        },
    }
    out = translate(resources(ENVOYS, gateway), Options(local_cluster=("gateways", "envoy")))
    assert out.groups is not None
    assert "xdscp_local" in (out.groups["gateway/gateways/envoy"][ENDPOINT] or ())
    assert out.groups["default"][ENDPOINT] is None  # everything
    plain = translate(resources(ENVOYS, gateway))
    assert plain.groups is not None
    assert "xdscp_local" not in (plain.groups["gateway/gateways/envoy"][ENDPOINT] or ())
