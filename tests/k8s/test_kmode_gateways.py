"""A proxy per Gateway against the real API server: two Gateways on the same port, an Envoy
for each with a kgateway-style bootstrap, and Gateway and HTTPRoute status as kubectl shows it.

Both Envoys bind port 8080, so each runs in a network namespace of its own (created by the
test; the root namespace is not touched). xdscp runs beside the API server; each Envoy reaches
it over a Unix socket the test forwards to xdscp's xDS port (a socket file is reachable from
any network namespace). Each namespace has its own httpbin on 10.215.0.1, the address the
EndpointSlice names, so each Envoy's traffic reaches its own backend.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import netns
from tests.e2e.netns import Namespace
from tests.gatewaylab import (
    HOSTS,
    LISTENER_PORT,
    api_service,
    endpoints,
    gateway,
    grant,
    route,
    to_api,
    to_httpbin,
    versions,
)
from tests.processes import Envoy, Xdscp, wait_routed
from xdscp.demo.processes import BIN, Process, http_get, httpbin_argv, wait_for
from xdscp.verify import dynamic_clusters

from .apiserver import KubeCluster
from .kmode import (
    GUIDE_KEEPALIVE,
    ROOT,
    TIMEOUT,
    apply,
    guide_file,
    metric,
    start_xdscp,
    stopping,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.netns, pytest.mark.process]

TEMPLATE = ROOT / "envoy" / "bootstrap-gateway.yaml"
BACKEND_ADDR = "10.215.0.1"  # each Envoy namespace's own httpbin
HTTPBIN_PORT, API_PORT = 18080, 18081
CONTROLLER = "xdscp.dev/controller"
GATEWAY_WRITES = 'xdscp_status_writes_total{kind="Gateway",result="written"}'
OWNERS = {"public": "kgateway-kube-gateway-api", "internal": "gloo-kube-gateway-api"}


class UnixForwarder:
    """A Unix socket whose connections are piped to 127.0.0.1:`port`, in threads."""

    def __init__(self, path: Path, port: int) -> None:
        class Pipe(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(("127.0.0.1", port)) as upstream:
                    downstream: socket.socket = self.request
                    back = threading.Thread(target=_pump, args=(upstream, downstream), daemon=True)
                    back.start()
                    _pump(downstream, upstream)
                    back.join()

        self.server = socketserver.ThreadingUnixStreamServer(str(path), Pipe)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@dataclass
class Lab:
    cluster: KubeCluster
    namespace: str  # the Gateways', routes' and guide's objects
    apps: str  # the internal API's, reached through a ReferenceGrant
    xdscp: Xdscp
    netns: dict[str, Namespace]
    envoys: dict[str, Envoy]

    def dump(self, which: str) -> dict[str, Any]:
        envoy = self.envoys[which]
        dump: dict[str, Any] = self.netns[which].run(envoy.config_dump)
        return dump

    def get(self, which: str, host: str, path: str = "/get") -> int:
        url = f"http://127.0.0.1:{LISTENER_PORT}{path}"
        status, _ = self.netns[which].run(http_get, url, headers={"Host": host}, timeout=5)
        return status

    def status(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object's status as `kubectl get -o yaml` shows it."""
        shown = self.cluster.kubectl(
            "get", kind, name, "-n", namespace or self.namespace, "-o", "yaml"
        )
        assert shown.returncode == 0, shown.stderr
        status: dict[str, Any] = yaml.safe_load(shown.stdout).get("status") or {}
        return status


def envoy_bootstrap(which: str, namespace: str, socket_path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    config["node"]["id"] = f"{which}-envoy-1"
    config["node"]["metadata"]["role"] = f"{OWNERS[which]}~{namespace}~{which}"
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    if which == "internal":
        config["dynamic_resources"]["ads_config"]["api_type"] = "DELTA_GRPC"
    xds = config["static_resources"]["clusters"][0]
    xds["type"] = "STATIC"
    xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] = {
        "pipe": {"path": str(socket_path)}
    }
    return config


@pytest.fixture(scope="module")
def lab(k8s_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    netns.skip_unless_available()
    where = tmp_path_factory.mktemp("kmode-gateways")
    namespace = k8s_cluster.create_namespace("kmode-gateways")
    apps = k8s_cluster.create_namespace("kmode-gateways-apps")
    tag = f"{threading.get_native_id()}"
    with ExitStack() as stack:
        spaces: dict[str, Namespace] = {}
        for which in HOSTS:
            ns = netns.namespace(f"xdscp-kg-{which[:3]}-{tag}", stack)
            ns.ip("addr", "add", f"{BACKEND_ADDR}/32", "dev", "lo")
            spaces[which] = ns
            for port in (HTTPBIN_PORT, API_PORT):
                argv = [*ns.exec_prefix, *httpbin_argv(BACKEND_ADDR, port)]
                httpbin = Process(f"httpbin-{which}-{port}", argv, where)
                stack.callback(httpbin.stop)

        apply(k8s_cluster, *guide_file("httpbin.yaml", namespace))
        apply(k8s_cluster, *guide_file("httpbin-keepalive.yaml", namespace))
        apply(k8s_cluster, endpoints(namespace, "httpbin", BACKEND_ADDR, HTTPBIN_PORT))
        api = endpoints(apps, "internal-api", BACKEND_ADDR, API_PORT)
        apply(k8s_cluster, api_service(apps), api)
        # No allowedRoutes: Gateway API's default admits routes of the Gateway's namespace.
        apply(k8s_cluster, *guide_file("gatewayclass.yaml", namespace))
        apply(k8s_cluster, gateway(namespace, "public"), gateway(namespace, "internal"))
        apply(
            k8s_cluster,
            route(namespace, "site", "public", namespace, to_httpbin()),
            route(namespace, "tools", "internal", namespace, to_httpbin(), to_api(apps)),
            route(namespace, "lost", "missing", namespace, to_httpbin()),
        )

        lease_namespace = k8s_cluster.create_namespace("kmode-gateways-lease")
        xdscp = start_xdscp(k8s_cluster.kubeconfig, where, lease_namespace=lease_namespace)
        stack.enter_context(stopping(xdscp))
        socket_path = where / "xds.sock"
        forwarder = UnixForwarder(socket_path, xdscp.xds_port)
        stack.callback(forwarder.close)
        envoys = {}
        for which, ns in spaces.items():
            config = envoy_bootstrap(which, namespace, socket_path)
            envoy = Envoy(config, where, name=f"envoy-{which}", argv_prefix=ns.exec_prefix)
            stack.enter_context(stopping(envoy))
            envoys[which] = envoy
        lab = Lab(k8s_cluster, namespace, apps, xdscp, spaces, envoys)
        for which, host in HOSTS.items():
            get = partial(lab.get, which, host)
            wait_routed(envoys[which], get, f"{host} through the {which} Envoy")
        yield lab


def test_each_envoy_gets_only_its_gateway(lab: Lab) -> None:
    ns = lab.namespace
    public, internal = lab.dump("public"), lab.dump("internal")
    assert set(versions(public)) == {f"{ns}/public/http", f"rds:{ns}/public/http"}
    assert set(versions(internal)) == {f"{ns}/internal/http", f"rds:{ns}/internal/http"}
    assert set(dynamic_clusters(public)) == {f"kube_{ns}_httpbin_8000"}
    assert lab.get("public", HOSTS["internal"]) == 404
    for which in HOSTS:  # the guide's cluster carries the guide's keepalive on both
        cluster = dynamic_clusters(lab.dump(which))[f"kube_{ns}_httpbin_8000"]
        assert cluster["upstream_connection_options"] == {"tcp_keepalive": GUIDE_KEEPALIVE}


def condition_reasons(conditions: list[dict[str, Any]]) -> dict[str, str]:
    return {c["type"]: f"{c['status']} {c['reason']}" for c in conditions}


def test_gateway_status_says_accepted_programmed_and_attached_routes(lab: Lab) -> None:
    def written() -> dict[str, Any] | None:
        status = lab.status("gateway", "public")
        return status if status.get("listeners") else None

    status = wait_for(written, TIMEOUT, "the public Gateway's status")
    assert condition_reasons(status["conditions"]) == {
        "Accepted": "True Accepted",
        "Programmed": "True Programmed",
    }
    (listener,) = status["listeners"]
    assert listener["name"] == "http" and listener["attachedRoutes"] == 1
    assert listener["supportedKinds"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}
    ]
    assert condition_reasons(listener["conditions"]) == {
        "Accepted": "True Accepted",
        "Programmed": "True Programmed",
        "ResolvedRefs": "True ResolvedRefs",
        "Conflicted": "False NoConflicts",
    }
    assert {c["observedGeneration"] for c in status["conditions"]} == {1}  # never edited


def parents(lab: Lab, name: str) -> dict[str, str] | None:
    entries = lab.status("httproute", name).get("parents") or []
    ours = [p for p in entries if p["controllerName"] == CONTROLLER]
    return condition_reasons(ours[0]["conditions"]) if ours else None


def test_route_status_and_a_reference_grant(lab: Lab) -> None:
    accepted = {"Accepted": "True Accepted", "ResolvedRefs": "True ResolvedRefs"}
    assert wait_for(lambda: parents(lab, "site") == accepted or None, TIMEOUT, "site Accepted")
    lost = wait_for(lambda: parents(lab, "lost"), TIMEOUT, "the lost route's status")
    assert lost["Accepted"] == "False NoMatchingParent"
    refused = {"Accepted": "True Accepted", "ResolvedRefs": "False RefNotPermitted"}
    assert wait_for(lambda: parents(lab, "tools") == refused or None, TIMEOUT, "RefNotPermitted")
    assert lab.get("internal", HOSTS["internal"], "/api/get") == 500  # Gateway API: invalid ref

    apply(lab.cluster, grant(lab.apps, lab.namespace))
    assert wait_for(lambda: parents(lab, "tools") == accepted or None, TIMEOUT, "the grant seen")
    assert wait_for(
        lambda: lab.get("internal", HOSTS["internal"], "/api/get") == 200 or None,
        TIMEOUT,
        "the internal API through the grant",
    )


def test_a_route_change_leaves_the_other_envoy_untouched(lab: Lab) -> None:
    before = versions(lab.dump("internal"))
    gateway_writes = metric(lab.xdscp, GATEWAY_WRITES)
    assert gateway_writes >= 1  # the earlier tests saw Gateway status written
    ns = lab.namespace
    apply(lab.cluster, route(ns, "site", "public", ns, to_httpbin(), to_httpbin("/extra")))
    wait_for(
        lambda: "/extra" in json.dumps(lab.dump("public")) or None, TIMEOUT, "the public change"
    )
    assert versions(lab.dump("internal")) == before

    # Status only on change: the route's is written again (a new generation), the Gateways'
    # (the same routes attached) is not.
    def route_observed() -> bool:
        entries = lab.status("httproute", "site").get("parents") or []
        return any(c["observedGeneration"] == 2 for p in entries for c in p["conditions"])

    wait_for(route_observed, TIMEOUT, "the site route's status at generation 2")
    assert metric(lab.xdscp, GATEWAY_WRITES) == gateway_writes


def test_xdscp_status_shows_each_envoys_gateway(lab: Lab) -> None:
    shown = subprocess.run(
        [str(BIN / "python"), "-m", "xdscp", "status", "--admin", lab.xdscp.admin],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "GATEWAY" in lines[0]
    for which in HOSTS:
        assert any(
            line.startswith(f"{which}-envoy-1") and f"{lab.namespace}/{which}" in line
            for line in lines
        ), shown.stdout
