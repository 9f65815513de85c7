"""Kubernetes mode under test: xdscp processes on the test API server, and what they serve.

Helpers shared by the test_kmode_* modules. The objects are the guide's own files from
policies/, with their namespace swapped for the test's, applied with the real kubectl.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import Envoy, Xdscp, free_port
from xdscp.demo.processes import Httpbin, Process, bootstrap, http_get, wait_for

from .apiserver import KubeCluster

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
GROUP, VERSION, PLURAL = "gateway.kgateway.dev", "v1alpha1", "backendconfigpolicies"
CONTROLLER = "xdscp.dev/controller"
GUIDE_KEEPALIVE = {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}
LEASE_SECONDS = 3  # short, so that a takeover fits in a test
TIMEOUT = 30.0


def node_address() -> str:
    """A non-loopback IPv4 address of this machine: EndpointSlices refuse 127.0.0.0/8."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # UDP: picks a source address, sends nothing
        except OSError:
            pytest.fail("no non-loopback IPv4 route: EndpointSlices cannot point at this host")
        address: str = probe.getsockname()[0]
    return address


@pytest.fixture(scope="module")
def node_httpbin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Httpbin]:
    """httpbin on an address an EndpointSlice may name (the session's binds 127.0.0.1)."""
    server = Httpbin(tmp_path_factory.mktemp("httpbin"), free_port(), host=node_address())
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def stopping(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def start_xdscp(
    kubeconfig: Path,
    workdir: Path,
    *,
    lease_namespace: str,
    identity: str = "xdscp-0",
    namespaces: tuple[str, ...] = (),
    xds_port: int = 0,
) -> Xdscp:
    extra = ["--kubernetes", "--kubeconfig", str(kubeconfig), "--lease-namespace"]
    extra += [lease_namespace, "--pod-name", identity, "--lease-duration", str(LEASE_SECONDS)]
    for namespace in namespaces:
        extra += ["--namespace", namespace]
    return Xdscp([], workdir, xds_port=xds_port, extra=extra)


def start_envoy(xdscp: Xdscp, workdir: Path, name: str = "envoy") -> Envoy:
    config = bootstrap(ROOT / "envoy" / "bootstrap.yaml", xdscp.xds_port, node_id=name)
    return Envoy(config, workdir, name=name)


@dataclass(frozen=True)
class Live:
    """xdscp in Kubernetes mode, and an Envoy it configures."""

    xdscp: Xdscp
    envoy: Envoy


@contextlib.contextmanager
def serving(
    cluster: KubeCluster, workdir: Path, lease_namespace: str, namespaces: tuple[str, ...] = ()
) -> Iterator[Live]:
    xdscp = start_xdscp(
        cluster.kubeconfig, workdir, lease_namespace=lease_namespace, namespaces=namespaces
    )
    with stopping(xdscp):
        envoy = start_envoy(xdscp, workdir)
        with stopping(envoy):
            yield Live(xdscp, envoy)


@contextlib.contextmanager
def serving_the_guide(cluster: KubeCluster, workdir: Path, namespace: str) -> Iterator[Live]:
    """xdscp reading only `namespace` (a guide_namespace), once Envoy has the guide's cluster
    with its keepalive."""
    with serving(cluster, workdir, namespace, namespaces=(namespace,)) as live:
        guide = cluster_name(namespace)
        wait_cluster(live.envoy, guide, lambda c: keepalive(c) == GUIDE_KEEPALIVE, "guide")
        yield live


def guide_namespace(
    cluster: KubeCluster, name: str, httpbin: Httpbin, *, with_gateway: bool = False
) -> str:
    """A new namespace holding the guide: its Service, a slice to `httpbin`, its policy (and
    its Gateway and HTTPRoute, on a free listener port)."""
    namespace = cluster.create_namespace(name)
    gateway = gateway_objects(namespace, free_port()) if with_gateway else []
    apply(cluster, *httpbin_objects(namespace, httpbin), *gateway, guide_policy_text(namespace))
    return namespace


# --- Manifests ---------------------------------------------------------------------------


def guide_file(name: str, namespace: str) -> list[dict[str, Any]]:
    """A file of policies/, every object moved to `namespace`."""
    text = re.sub(
        r"namespace: (httpbin|kgateway-system)",
        f"namespace: {namespace}",
        (POLICIES / name).read_text(),
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def guide_policy_text(namespace: str) -> str:
    """The guide's manifest verbatim, but for its namespace."""
    return (
        (POLICIES / "httpbin-keepalive.yaml")
        .read_text()
        .replace("namespace: httpbin", f"namespace: {namespace}")
    )


def httpbin_objects(namespace: str, httpbin: Httpbin) -> list[dict[str, Any]]:
    """The guide's Service and an EndpointSlice pointing at `httpbin`."""
    (service,) = guide_file("httpbin.yaml", namespace)
    (endpoints,) = guide_file("httpbin-endpoints.yaml", namespace)
    host, port = httpbin.url.removeprefix("http://").rsplit(":", 1)
    endpoints["endpoints"][0]["addresses"] = [host]
    endpoints["ports"][0]["port"] = int(port)
    return [service, endpoints]


def gateway_objects(namespace: str, listener_port: int) -> list[dict[str, Any]]:
    """The guide's GatewayClass (xdscp's), Gateway and HTTPRoute."""
    gateway, route = guide_file("gateway.yaml", namespace)
    gateway["spec"]["listeners"][0]["port"] = listener_port
    return [*guide_file("gatewayclass.yaml", namespace), gateway, route]


def policy(
    namespace: str, name: str, spec: dict[str, Any], target: str = "httpbin"
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": target}], **spec},
    }


def apply(cluster: KubeCluster, *objects: dict[str, Any] | str) -> None:
    text = "\n---\n".join(o if isinstance(o, str) else yaml.safe_dump(o) for o in objects)
    applied = cluster.kubectl("apply", "-f", "-", input=text)
    assert applied.returncode == 0, applied.stderr


def kubectl_ok(cluster: KubeCluster, *args: str) -> str:
    done = cluster.kubectl(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- What xdscp, the API server and Envoy show -------------------------------------------


def get_policy(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    shown = kubectl_ok(cluster, "get", "backendconfigpolicy", "-n", namespace, name, "-o", "json")
    body: dict[str, Any] = json.loads(shown)
    return body


def conditions(policy_body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Our conditions by (ancestor name, type)."""
    return {
        (ancestor["ancestorRef"]["name"], condition["type"]): condition
        for ancestor in (policy_body.get("status") or {}).get("ancestors", [])
        if ancestor["controllerName"] == CONTROLLER
        for condition in ancestor["conditions"]
    }


def wait_conditions(
    cluster: KubeCluster,
    namespace: str,
    name: str,
    check: Callable[[dict[tuple[str, str], dict[str, Any]]], bool],
    what: str,
) -> dict[tuple[str, str], dict[str, Any]]:
    def matching() -> dict[tuple[str, str], dict[str, Any]] | None:
        found = conditions(get_policy(cluster, namespace, name))
        return found if found and check(found) else None

    return wait_for(matching, TIMEOUT, what)


def reasons(found: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {key: f"{c['status']} {c['reason']}" for key, c in found.items()}


def metric(xdscp: Xdscp, name: str) -> float:
    """One sample of xdscp's /metrics (0 when it has not been recorded yet)."""
    for line in http_get(xdscp.admin + "/metrics")[1].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def status_writes(xdscp: Xdscp) -> float:
    return metric(xdscp, 'xdscp_status_writes_total{kind="BackendConfigPolicy",result="written"}')


def wait_cluster(
    envoy: Envoy, name: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def matching() -> dict[str, Any] | None:
        cluster = envoy.dynamic_clusters().get(name)
        return cluster if cluster is not None and check(cluster) else None

    return wait_for(matching, TIMEOUT, what)


def cluster_name(namespace: str, port: int = 8000) -> str:
    """The guide's httpbin Service's cluster, in `namespace`."""
    return f"kube_{namespace}_httpbin_{port}"


def keepalive(cluster: dict[str, Any]) -> dict[str, Any] | None:
    options: dict[str, Any] = cluster.get("upstream_connection_options", {})
    return options.get("tcp_keepalive")


def eds_assignment(envoy: Envoy, cluster: str) -> dict[str, Any]:
    """The ClusterLoadAssignment Envoy holds for `cluster` ({} if none), from config_dump."""
    for section in envoy.config_dump()["configs"]:
        if section["@type"].endswith("EndpointsConfigDump"):
            for config in section.get("dynamic_endpoint_configs", []):
                assignment: dict[str, Any] = config["endpoint_config"]
                if assignment["cluster_name"] == cluster:
                    return assignment
    return {}


def eds_addresses(envoy: Envoy, cluster: str) -> set[tuple[str, int]]:
    """The endpoints Envoy holds for `cluster`, from config_dump?include_eds."""
    return {
        (
            e["endpoint"]["address"]["socket_address"]["address"],
            e["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for locality in eds_assignment(envoy, cluster).get("endpoints", [])
        for e in locality.get("lb_endpoints", [])
    }
