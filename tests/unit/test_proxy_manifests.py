"""The deployer's objects for one Gateway, and its parameters ConfigMap read as strictly as
our other inputs (each problem names the ConfigMap and its data key)."""

from __future__ import annotations

from typing import Any

import yaml

from xdscp.sources.kubernetes.proxy import DeployerConfig, Parameters, manifests, parameters


def config_map(**data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": "proxy", "namespace": "infra"}, "data": data}


def test_parameters_are_validated_field_by_field() -> None:
    found, problems = parameters(
        config_map(replicas="3", serviceType="NodePort", labels="team: edge"), "kubernetes"
    )
    assert problems == [] and found is not None
    assert (found.replicas, found.service_type, found.labels) == (3, "NodePort", {"team": "edge"})
    found, problems = parameters(
        config_map(replicas="many", serviceType="Public", imag="x"), "kubernetes"
    )
    assert found is None
    assert {(str(p.object), p.field) for p in problems} == {
        ("ConfigMap infra/proxy", "data.imag"),
        ("ConfigMap infra/proxy", "data.replicas"),
        ("ConfigMap infra/proxy", "data.serviceType"),
    }


def test_four_objects_named_after_the_gateway_and_owned_by_it() -> None:
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "http", "namespace": "kgateway-system", "uid": "u-1"},
        "spec": {
            "gatewayClassName": "kgateway",
            "listeners": [
                {"name": "http", "port": 8080, "protocol": "HTTP"},
                {"name": "http-other", "port": 8080, "protocol": "HTTP", "hostname": "a.example"},
                {"name": "Very_Long_Listener_Name", "port": 443, "protocol": "HTTP"},
            ],
        },
    }
    objects = manifests(gateway, Parameters(), DeployerConfig())
    assert [(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [
        (kind, "http", "kgateway-system")
        for kind in ("ServiceAccount", "ConfigMap", "Deployment", "Service")
    ]
    for o in objects:
        assert o["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "name": "http",
                "uid": "u-1",
                "controller": True,
            }
        ]
    service = objects[3]["spec"]
    assert service["type"] == "LoadBalancer"
    assert [(p["name"], p["port"]) for p in service["ports"]] == [("http", 8080), ("port-443", 443)]
    node = yaml.safe_load(objects[1]["data"]["envoy.yaml"])["node"]
    assert node["metadata"]["role"] == "xdscp~kgateway-system~http"
