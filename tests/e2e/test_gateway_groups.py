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
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import netns
from tests.e2e.netns import Namespace
from tests.files import replace_yaml
from tests.gatewaylab import (
    HOSTS,
    LISTENER_PORT,
    api_service,
    endpoints,
    gateway,
    grant,
    route,
    route_config,
    to_api,
    to_httpbin,
    versions,
)
from tests.processes import Envoy, log_tails, wait_routed, workdir
from xdscp import statustable
from xdscp.demo.processes import Process, bootstrap, http_get, httpbin_argv, wait_for
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
HTTPBIN_PORT, API_PORT = 18080, 18081
GATEWAYS = "kgateway-system"  # the Gateways' namespace; routes are in httpbin's
GUIDE_CLUSTER, API_CLUSTER = "kube_httpbin_httpbin_8000", "kube_apps_internal-api_80"
GUIDE_KEEPALIVE = {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}


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
        return log_tails(self.processes)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    netns.skip_unless_available()
    tag = f"{os.getpid()}"
    with ExitStack() as stack:
        where = stack.enter_context(workdir("xdscp-groups-"))
        cp = netns.namespace(f"xdscp-gg-cp-{tag}", stack)
        namespaces = {}
        for index, (which, (cp_addr, envoy_addr)) in enumerate(SUBNETS.items()):
            ns = netns.namespace(f"xdscp-gg-{which[:3]}-{tag}", stack)
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
            cp.start(f"httpbin-{port}", httpbin_argv("0.0.0.0", port), where, stack)
            for port in (HTTPBIN_PORT, API_PORT)
        ]
        config = where / "config"
        config.mkdir()
        for name in ("httpbin.yaml", "httpbin-keepalive.yaml"):  # the guide's Service and policy
            shutil.copy(ROOT / "policies" / name, config / name)
        replace_yaml(
            config / "backends.yaml", endpoints("httpbin", "httpbin", CP_ADDR, HTTPBIN_PORT)
        )
        api = endpoints("apps", "internal-api", CP_ADDR, API_PORT)
        replace_yaml(config / "api.yaml", api_service("apps"), api, grant("apps", "httpbin"))
        replace_yaml(config / "gateways.yaml", *(gateway(GATEWAYS, n, "All") for n in HOSTS))
        replace_yaml(
            config / "site.yaml", route("httpbin", "site", "public", GATEWAYS, to_httpbin())
        )
        tools = route("httpbin", "tools", "internal", GATEWAYS, to_httpbin(), to_api("apps"))
        replace_yaml(config / "tools.yaml", tools)

        xdscp, ports = netns.serve(cp, config, "0.0.0.0", where, stack)
        processes.append(xdscp)

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
            get = partial(lab.get, which, host)
            wait_routed(envoys[which], get, f"{host} through the {which} Envoy", lab.logs)
        yield lab


def test_each_envoy_has_only_its_gateways_listener_routes_and_clusters(lab: Lab) -> None:
    public, internal = lab.dump("public"), lab.dump("internal")
    assert set(versions(public)) == {f"{GATEWAYS}/public/http", f"rds:{GATEWAYS}/public/http"}
    assert set(dynamic_clusters(public)) == {GUIDE_CLUSTER}
    assert set(versions(internal)) == {
        f"{GATEWAYS}/internal/http",
        f"rds:{GATEWAYS}/internal/http",
    }
    assert set(dynamic_clusters(internal)) == {GUIDE_CLUSTER, API_CLUSTER}


def test_traffic_through_each_reaches_its_own_backends(lab: Lab) -> None:
    assert lab.get("public", HOSTS["public"], "/status/418") == 418  # httpbin answered
    # As a browser sends it to a Gateway on 8080: the port is no part of the hostname.
    assert lab.get("public", f"{HOSTS['public']}:{LISTENER_PORT}", "/status/418") == 418
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
    before_versions = versions(lab.dump("internal"))
    counters = ("listener_manager.lds.update_attempt", "listener_manager.lds.update_success")
    before = {k: lab.stats("internal", k)[k] for k in counters}
    rds_before = lab.stats("internal", "http.")
    site = route("httpbin", "site", "public", GATEWAYS, to_httpbin(), to_httpbin("/extra"))
    replace_yaml(lab.config / "site.yaml", site)

    def changed() -> bool:
        config = route_config(lab.dump("public"), f"{GATEWAYS}/public/http")
        return "/extra" in json.dumps(config)

    wait_for(changed, 20, "the public Envoy to get the changed route")
    assert lab.get("public", HOSTS["public"], "/extra/get") == 404  # httpbin: no such path
    # A change that reached one Envoy was handled for all groups in the same pass: the
    # internal group's snapshot was not touched, so nothing was sent to it.
    assert versions(lab.dump("internal")) == before_versions
    assert {k: lab.stats("internal", k)[k] for k in counters} == before
    rds_after = lab.stats("internal", "http.")
    assert {k: v for k, v in rds_after.items() if ".rds." in k} == {
        k: v for k, v in rds_before.items() if ".rds." in k
    }


def test_policies_shows_gateway_and_route_status(lab: Lab) -> None:
    body = lab.cp.run(lambda: http_get(lab.admin + "/policies")[1])
    document = json.loads(body)
    gateways = {g["gateway"]: g for g in document["gateways"]}
    public = gateways[f"{GATEWAYS}/public"]
    assert public["listeners"][0]["attachedRoutes"] == 1
    routes = {r["httproute"]: r for r in document["httproutes"]}
    (tools,) = routes["httpbin/tools"]["parents"]
    reasons = {c["type"]: c["reason"] for c in tools["conditions"]}
    assert reasons == {"Accepted": "Accepted", "ResolvedRefs": "ResolvedRefs"}  # granted


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
