"""A proxy per Gateway, live: two Gateways on the same port, an Envoy for each.

Three network namespaces the test creates (the root namespace is not touched): `cp` holds
xdscp and two httpbins; `public` and `internal` each hold one Envoy, joined to `cp` by a veth
pair. Both Envoys bind 0.0.0.0:8080, as two Gateway deployments would. Their bootstraps are
envoy/bootstrap-gateway.yaml, kgateway's convention: node.metadata.role names the Gateway
(kgateway's owner for one, the older gloo owner for the other). One streams state of the
world, the other delta.

Each Envoy's config_dump holds only its Gateway's listener and route and the clusters they
route to; traffic through each reaches its own backends; a change to one Gateway's route
leaves the other Envoy's lds and rds versions (and update counters) as they were; the guide's
cluster carries the guide's keepalive on both; `xdscp status` shows each node's Gateway.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import netns
from tests.e2e.netns import Namespace
from xdscp import statustable
from xdscp.processes import (
    BIN,
    Envoy,
    NotReady,
    Process,
    bootstrap,
    http_get,
    httpbin_argv,
    wait_for,
    workdir,
)
from xdscp.verify import dynamic_clusters

pytestmark = [pytest.mark.envoy, pytest.mark.netns, pytest.mark.process]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "envoy" / "bootstrap-gateway.yaml"
CP_ADDR = "10.214.1.1"  # cp's end towards `public`; `internal` reaches it through its route
SUBNETS = {"public": ("10.214.1.1", "10.214.1.2"), "internal": ("10.214.2.1", "10.214.2.2")}
ROLES = {
    "public": "kgateway-kube-gateway-api~kgateway-system~public",
    "internal": "gloo-kube-gateway-api~kgateway-system~internal",
}
LISTENER_PORT = 8080
HTTPBIN_PORT, API_PORT = 18080, 18081
GUIDE_CLUSTER, API_CLUSTER = "kube_httpbin_httpbin_8000", "kube_apps_internal-api_80"
GUIDE_KEEPALIVE = {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}
HOSTS = {"public": "www.example.com", "internal": "internal.example.com"}


def gateway(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "kgateway-system"},
        "spec": {
            "gatewayClassName": "kgateway",
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": LISTENER_PORT,
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                }
            ],
        },
    }


def route(name: str, parent: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "httpbin"},
        "spec": {
            "parentRefs": [{"name": parent, "namespace": "kgateway-system"}],
            "hostnames": [HOSTS[parent]],
            "rules": list(rules),
        },
    }


def to_httpbin(prefix: str = "/") -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "backendRefs": [{"name": "httpbin", "port": 8000}],
    }


# The internal Gateway's API lives in another namespace, reached by the grant below; its
# prefix is cut off on the way (a URLRewrite), so /api/get is the httpbin's /get.
TO_API = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
    "filters": [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
        }
    ],
    "backendRefs": [{"name": "internal-api", "namespace": "apps", "port": 80}],
}


def backend(namespace: str, name: str, port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 80 if name != "httpbin" else 8000}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-lab",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [CP_ADDR], "conditions": {"ready": True}}],
        },
    ]


GRANT = {
    "apiVersion": "gateway.networking.k8s.io/v1beta1",
    "kind": "ReferenceGrant",
    "metadata": {"name": "httpbin-routes", "namespace": "apps"},
    "spec": {
        "from": [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "httpbin"}
        ],
        "to": [{"group": "", "kind": "Service", "name": "internal-api"}],
    },
}


def write(path: Path, *docs: dict[str, Any]) -> None:
    # Beside and renamed, as editors do: xdscp never reads half a file.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(yaml.safe_dump_all(docs))
    temporary.rename(path)


@dataclass
class Lab:
    cp: Namespace
    namespaces: dict[str, Namespace]
    envoys: dict[str, Envoy]
    admin: str  # xdscp's, inside cp
    config: Path
    processes: list[Process]

    def dump(self, which: str) -> dict[str, Any]:
        body = self.namespaces[which].run(
            lambda: http_get(self.envoys[which].admin + "/config_dump?include_eds")[1]
        )
        dump: dict[str, Any] = json.loads(body)
        return dump

    def get(self, which: str, host: str, path: str = "/get") -> int:
        url = f"http://127.0.0.1:{LISTENER_PORT}{path}"
        status, _ = self.namespaces[which].run(http_get, url, headers={"Host": host}, timeout=5)
        return status

    def stats(self, which: str, prefix: str) -> dict[str, str]:
        result: dict[str, str] = self.namespaces[which].run(self.envoys[which].stats, prefix)
        return result

    def status(self) -> dict[str, Any]:
        body = self.cp.run(lambda: http_get(self.admin + "/status")[1])
        result: dict[str, Any] = json.loads(body)
        return result

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(30)}" for p in self.processes)


def listeners(dump: dict[str, Any]) -> dict[str, str]:
    """Dynamic listener name -> version_info, from a config_dump."""
    section = _section(dump, "ListenersConfigDump")
    return {
        entry["name"]: entry["active_state"]["version_info"]
        for entry in section.get("dynamic_listeners", [])
        if "active_state" in entry
    }


def route_configs(dump: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Dynamic RouteConfiguration name -> (version_info, the configuration)."""
    section = _section(dump, "RoutesConfigDump")
    return {
        entry["route_config"]["name"]: (entry["version_info"], entry["route_config"])
        for entry in section.get("dynamic_route_configs", [])
    }


def _section(dump: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((s for s in dump["configs"] if s["@type"].endswith("." + kind)), {})


def _start(name: str, ns: Namespace, argv: list[str], where: Path, stack: ExitStack) -> Process:
    process = Process(name, [*ns.exec_prefix, *argv], where)
    stack.callback(process.stop)
    return process


def _ready(process: Process, ready_file: Path) -> dict[str, int] | None:
    process.check_alive()
    try:
        ports: dict[str, int] = json.loads(ready_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return ports


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid()}"
    with ExitStack() as stack:
        where = stack.enter_context(workdir("xdscp-groups-"))
        cp = Namespace(f"xdscp-gg-cp-{tag}")
        stack.callback(cp.delete)
        namespaces = {}
        for index, (which, (cp_addr, envoy_addr)) in enumerate(SUBNETS.items()):
            ns = Namespace(f"xdscp-gg-{which[:3]}-{tag}")
            stack.callback(ns.delete)
            netns.veth_pair(
                cp,
                f"xgc{index}{tag}"[:15],
                f"{cp_addr}/30",
                ns,
                f"xge{index}{tag}"[:15],
                f"{envoy_addr}/30",
            )
            ns.ip("route", "add", "default", "via", cp_addr)
            namespaces[which] = ns

        processes = [
            _start(f"httpbin-{port}", cp, httpbin_argv("0.0.0.0", port), where, stack)
            for port in (HTTPBIN_PORT, API_PORT)
        ]
        config = where / "config"
        config.mkdir()
        for name in ("httpbin.yaml", "httpbin-keepalive.yaml"):  # the guide's Service and policy
            shutil.copy(ROOT / "policies" / name, config / name)
        write(config / "backends.yaml", *backend("httpbin", "httpbin", HTTPBIN_PORT)[1:])
        write(config / "api.yaml", *backend("apps", "internal-api", API_PORT), GRANT)
        write(config / "gateways.yaml", gateway("public"), gateway("internal"))
        write(config / "site.yaml", route("site", "public", to_httpbin()))
        write(config / "tools.yaml", route("tools", "internal", to_httpbin(), TO_API))

        ready_file = where / "xdscp-ready.json"
        argv = [
            str(BIN / "python"),
            "-m",
            "xdscp",
            "serve",
            str(config),
            "--xds-address",
            "0.0.0.0:0",
            "--admin-port",
            "0",
            "--listener-address",
            "0.0.0.0",
            "--ready-file",
            str(ready_file),
        ]
        xdscp = _start("xdscp", cp, argv, where, stack)
        processes.append(xdscp)
        ports = wait_for(lambda: _ready(xdscp, ready_file), 30, "xdscp to serve")

        envoys = {}
        for which, ns in namespaces.items():
            config_doc = bootstrap(
                TEMPLATE, ports["xds_port"], node_id=f"{which}-envoy-1", delta=which == "internal"
            )
            config_doc["node"]["metadata"]["role"] = ROLES[which]
            xds = config_doc["static_resources"]["clusters"][0]
            endpoint = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            endpoint["address"]["socket_address"]["address"] = SUBNETS[which][0]
            envoy = Envoy(config_doc, where, name=f"envoy-{which}", argv_prefix=ns.exec_prefix)
            stack.callback(envoy.stop)
            envoys[which] = envoy
            processes.append(envoy)

        lab = Lab(
            cp, namespaces, envoys, f"http://127.0.0.1:{ports['admin_port']}", config, processes
        )
        for which, host in HOSTS.items():

            def routed(which: str = which, host: str = host) -> bool:
                envoys[which].check_alive()
                try:
                    return lab.get(which, host) == 200
                except OSError:
                    return False

            try:
                wait_for(routed, 30, f"a 200 for {host} through the {which} Envoy")
            except NotReady as err:
                raise NotReady(f"{err}\n{lab.logs()}") from err
        yield lab


def test_each_envoy_has_only_its_gateways_listener_routes_and_clusters(lab: Lab) -> None:
    public, internal = lab.dump("public"), lab.dump("internal")
    assert set(listeners(public)) == {"kgateway-system/public/http"}
    assert set(route_configs(public)) == {"kgateway-system/public/http"}
    assert set(dynamic_clusters(public)) == {GUIDE_CLUSTER}
    assert set(listeners(internal)) == {"kgateway-system/internal/http"}
    assert set(route_configs(internal)) == {"kgateway-system/internal/http"}
    assert set(dynamic_clusters(internal)) == {GUIDE_CLUSTER, API_CLUSTER}


def test_traffic_through_each_reaches_its_own_backends(lab: Lab) -> None:
    assert lab.get("public", HOSTS["public"], "/status/418") == 418  # httpbin answered
    assert lab.get("public", HOSTS["internal"], "/api/get") == 404  # not the public's route
    assert lab.get("internal", HOSTS["public"]) == 404
    before = int(
        lab.stats("internal", f"cluster.{API_CLUSTER}.").get(
            f"cluster.{API_CLUSTER}.upstream_rq_200", "0"
        )
    )
    assert lab.get("internal", HOSTS["internal"], "/api/get") == 200  # rewritten to /get
    after = lab.stats("internal", f"cluster.{API_CLUSTER}.")
    assert int(after[f"cluster.{API_CLUSTER}.upstream_rq_200"]) == before + 1


def test_the_guides_cluster_has_the_keepalive_on_both(lab: Lab) -> None:
    for which in ("public", "internal"):
        cluster = dynamic_clusters(lab.dump(which))[GUIDE_CLUSTER]
        assert cluster["upstream_connection_options"] == {"tcp_keepalive": GUIDE_KEEPALIVE}, which


def test_a_route_change_leaves_the_other_envoy_untouched(lab: Lab) -> None:
    internal = lab.dump("internal")
    versions = (listeners(internal), {n: v for n, (v, _) in route_configs(internal).items()})
    counters = ("listener_manager.lds.update_attempt", "listener_manager.lds.update_success")
    before = {k: lab.stats("internal", k)[k] for k in counters}
    rds_before = lab.stats("internal", "http.")
    write(lab.config / "site.yaml", route("site", "public", to_httpbin(), to_httpbin("/extra")))

    def changed() -> bool:
        (_, config) = route_configs(lab.dump("public"))["kgateway-system/public/http"]
        return "/extra" in json.dumps(config)

    wait_for(changed, 20, "the public Envoy to get the changed route")
    assert lab.get("public", HOSTS["public"], "/extra/get") == 404  # httpbin: no such path
    # A change that reached one Envoy was handled for all groups in the same pass: the
    # internal group's snapshot was not touched, so nothing was sent to it.
    internal = lab.dump("internal")
    assert (
        listeners(internal),
        {n: v for n, (v, _) in route_configs(internal).items()},
    ) == versions
    assert {k: lab.stats("internal", k)[k] for k in counters} == before
    rds_after = lab.stats("internal", "http.")
    assert {k: v for k, v in rds_after.items() if ".rds." in k} == {
        k: v for k, v in rds_before.items() if ".rds." in k
    }


def test_xdscp_status_shows_each_nodes_gateway(lab: Lab) -> None:
    status = lab.status()
    by_node = {s["node_id"]: s for s in status["streams"]}
    assert by_node["public-envoy-1"]["gateway"] == "kgateway-system/public"
    assert by_node["internal-envoy-1"]["gateway"] == "kgateway-system/internal"
    assert by_node["internal-envoy-1"]["variant"] == "delta"
    assert {"gateway/kgateway-system/public", "gateway/kgateway-system/internal"} <= set(
        status["groups"]
    )
    table = statustable.table(status)
    assert "GATEWAY" in table.splitlines()[0]
    assert any(
        "public-envoy-1" in line and "kgateway-system/public" in line for line in table.splitlines()
    )
