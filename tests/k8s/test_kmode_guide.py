"""The guide in Kubernetes mode: kubectl in, a live Envoy out, status back on the policy.

One xdscp (watching every namespace) and one Envoy serve the whole module; each test works
in a namespace of its own, so its clusters are its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.processes import free_port
from xdscp.app import envoy_clusters
from xdscp.demo.processes import Httpbin, http_get, wait_for

from .apiserver import KubeCluster
from .kmode import (
    CONTROLLER,
    GUIDE_KEEPALIVE,
    TIMEOUT,
    Live,
    apply,
    cluster_name,
    conditions,
    eds_addresses,
    gateway_objects,
    get_policy,
    guide_policy_text,
    httpbin_objects,
    keepalive,
    kubectl_ok,
    node_httpbin,
    policy,
    reasons,
    serving,
    wait_cluster,
    wait_conditions,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]
__all__ = ["node_httpbin"]  # a fixture this module uses


@pytest.fixture(scope="module")
def live(k8s_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    lease_namespace = k8s_cluster.create_namespace("kmode-guide")
    with serving(k8s_cluster, tmp_path_factory.mktemp("kmode-guide"), lease_namespace) as live:
        yield live


def test_guide_manifest_configures_envoy_and_reports_status(
    live: Live, k8s_cluster: KubeCluster, k8s_namespace: str, node_httpbin: Httpbin
) -> None:
    listener_port = free_port()
    apply(k8s_cluster, *httpbin_objects(k8s_namespace, node_httpbin))
    apply(k8s_cluster, *gateway_objects(k8s_namespace, listener_port))

    applied = k8s_cluster.kubectl("apply", "-f", "-", input=guide_policy_text(k8s_namespace))
    assert applied.returncode == 0, applied.stderr

    name = cluster_name(k8s_namespace)
    wait_cluster(live.envoy, name, lambda c: keepalive(c) is not None, "the keepalive cluster")
    # The guide's check: curl -X POST 127.0.0.1:19000/config_dump?include_eds
    cluster = envoy_clusters(live.envoy.admin)[name]
    assert cluster["connect_timeout"] == "5s"
    assert cluster["upstream_connection_options"] == {"tcp_keepalive": GUIDE_KEEPALIVE}

    def through_envoy() -> int | None:
        url = f"http://127.0.0.1:{listener_port}/status/418"
        try:
            status, _ = http_get(url, headers={"Host": "www.example.com"})
        except OSError:
            return None
        return status if status == 418 else None  # httpbin answered, not Envoy

    assert wait_for(through_envoy, TIMEOUT, "a request through Envoy to httpbin") == 418

    wait_conditions(
        k8s_cluster, k8s_namespace, "httpbin-keepalive", lambda c: len(c) == 2, "our status"
    )
    shown = yaml.safe_load(
        kubectl_ok(k8s_cluster, "get", "backendconfigpolicy", "-n", k8s_namespace, "-o", "yaml")
    )
    (item,) = shown["items"]
    (ancestor,) = item["status"]["ancestors"]
    assert ancestor["ancestorRef"] == {
        "group": "",
        "kind": "Service",
        "namespace": k8s_namespace,
        "name": "httpbin",
    }
    assert ancestor["controllerName"] == CONTROLLER
    accepted, attached = ancestor["conditions"]
    assert {k: accepted[k] for k in ("type", "status", "reason", "observedGeneration")} == {
        "type": "Accepted",
        "status": "True",
        "reason": "Valid",
        "observedGeneration": 1,
    }
    assert (attached["type"], attached["status"], attached["reason"]) == (
        "Attached",
        "True",
        "Attached",
    )
    # The CRD's printer columns read our conditions.
    table = kubectl_ok(k8s_cluster, "get", "backendconfigpolicy", "-n", k8s_namespace)
    assert table.split("\n")[1].split()[:3] == ["httpbin-keepalive", "True", "True"]

    deleted = k8s_cluster.kubectl(
        "delete", "backendconfigpolicy", "httpbin-keepalive", "-n", k8s_namespace
    )
    assert deleted.returncode == 0, deleted.stderr
    removed = wait_cluster(
        live.envoy,
        name,
        lambda c: "upstream_connection_options" not in c,
        "keepalive removed from the live Envoy",
    )
    assert removed["connect_timeout"] == "5s"


def test_endpoint_slice_changes_reach_eds_and_a_port_change_renames_the_cluster(
    live: Live, k8s_cluster: KubeCluster, k8s_namespace: str, node_httpbin: Httpbin
) -> None:
    service, endpoints = httpbin_objects(k8s_namespace, node_httpbin)
    apply(k8s_cluster, service, endpoints)
    address, port = endpoints["endpoints"][0]["addresses"][0], endpoints["ports"][0]["port"]
    name = cluster_name(k8s_namespace)

    def eds(expected: set[tuple[str, int]]) -> bool:
        return eds_addresses(live.envoy, name) == expected

    wait_for(lambda: eds({(address, port)}), TIMEOUT, "the EndpointSlice's endpoint in EDS")

    endpoints["endpoints"].append({"addresses": ["10.9.8.7"], "conditions": {"ready": True}})
    apply(k8s_cluster, endpoints)
    wait_for(lambda: eds({(address, port), ("10.9.8.7", port)}), TIMEOUT, "a second endpoint")

    endpoints["endpoints"][1]["conditions"]["ready"] = False
    apply(k8s_cluster, endpoints)
    wait_for(lambda: eds({(address, port)}), TIMEOUT, "the unready endpoint gone")

    service["spec"]["ports"][0]["port"] = 9000
    apply(k8s_cluster, service)
    renamed = cluster_name(k8s_namespace, 9000)
    wait_for(
        lambda: renamed in (c := live.envoy.dynamic_clusters()) and name not in c,
        TIMEOUT,
        f"{name} renamed to {renamed}",
    )
    assert eds_addresses(live.envoy, renamed) == {(address, port)}


def test_invalid_stored_policy_keeps_its_last_good_version_and_disturbs_nothing_else(
    live: Live, k8s_cluster: KubeCluster, k8s_namespace: str, node_httpbin: Httpbin
) -> None:
    service, endpoints = httpbin_objects(k8s_namespace, node_httpbin)
    other = {**service, "metadata": {**service["metadata"], "name": "other"}}
    apply(k8s_cluster, service, endpoints, other)
    apply(k8s_cluster, guide_policy_text(k8s_namespace))
    name = cluster_name(k8s_namespace)
    wait_cluster(live.envoy, name, lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the keepalive")

    # The CRD admits `connectTimeout: 0s`; Envoy would refuse it, so xdscp does.
    broken = yaml.safe_load(guide_policy_text(k8s_namespace))
    broken["spec"]["connectTimeout"] = "0s"
    broken["spec"]["tcpKeepalive"]["keepAliveProbes"] = 9
    apply(k8s_cluster, broken)
    apply(k8s_cluster, policy(k8s_namespace, "other-timeout", {"connectTimeout": "7s"}, "other"))

    found = wait_conditions(
        k8s_cluster,
        k8s_namespace,
        "httpbin-keepalive",
        lambda c: c[("httpbin", "Accepted")]["reason"] == "Invalid",
        "the policy reported invalid",
    )
    accepted, attached = found[("httpbin", "Accepted")], found[("httpbin", "Attached")]
    assert accepted["status"] == "False"
    assert "spec.connectTimeout" in accepted["message"], accepted
    assert accepted["observedGeneration"] == 2
    assert (attached["status"], attached["reason"]) == ("True", "Attached")
    assert attached["message"].startswith("generation 1 still applies"), attached
    # The other policy applies; the broken one's last good version stays on its target.
    wait_cluster(
        live.envoy,
        f"kube_{k8s_namespace}_other_8000",
        lambda c: c["connect_timeout"] == "7s",
        "the other policy",
    )
    assert keepalive(live.envoy.dynamic_clusters()[name]) == GUIDE_KEEPALIVE
    problems = live.xdscp.get_json("/policies")["problems"]
    assert any(f"{k8s_namespace}/httpbin-keepalive: spec.connectTimeout" in p for p in problems)

    apply(k8s_cluster, guide_policy_text(k8s_namespace))  # fixed again
    wait_conditions(
        k8s_cluster,
        k8s_namespace,
        "httpbin-keepalive",
        lambda c: (
            reasons(c)
            == {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Attached"}
        ),
        "the policy valid again",
    )
    assert (
        conditions(get_policy(k8s_cluster, k8s_namespace, "httpbin-keepalive"))[
            ("httpbin", "Accepted")
        ]["observedGeneration"]
        == 3
    )
