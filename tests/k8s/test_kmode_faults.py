"""Watches that expire and an API server that goes away: Envoy keeps its clusters, and
catches up with every change once xdscp can see it again.

The module's xdscp watches only its own namespace (`--namespace`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from xdscp.demo.processes import Httpbin, http_get, wait_for
from xdscp.sources.kubernetes.source import watch_scopes

from .apiserver import KubeCluster
from .kmode import (
    GUIDE_KEEPALIVE,
    TIMEOUT,
    Live,
    apply,
    cluster_name,
    eds_addresses,
    get_policy,
    guide_namespace,
    guide_policy_text,
    httpbin_objects,
    keepalive,
    kubectl_ok,
    metric,
    node_httpbin,
    serving_the_guide,
    status_writes,
    wait_cluster,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]
__all__ = ["node_httpbin"]  # a fixture this module uses


@pytest.fixture(scope="module")
def namespace(k8s_cluster: KubeCluster, node_httpbin: Httpbin) -> str:
    """The guide in a namespace of the module's own."""
    return guide_namespace(k8s_cluster, "kmode-faults", node_httpbin)


@pytest.fixture(scope="module")
def live(
    k8s_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("kmode-faults")
    with serving_the_guide(k8s_cluster, workdir, namespace) as live:
        yield live


def log(live: Live) -> str:
    return live.xdscp.log_path.read_text()


def snapshot(live: Live) -> str:
    version: str = live.xdscp.get_json("/status")["snapshot"]
    return version


def test_expired_watches_relist_without_losing_or_keeping_anything(
    live: Live, namespace: str, k8s_cluster: KubeCluster, node_httpbin: Httpbin
) -> None:
    (endpoints,) = [
        o for o in httpbin_objects(namespace, node_httpbin) if o["kind"] == "EndpointSlice"
    ]
    address, port = endpoints["endpoints"][0]["addresses"][0], endpoints["ports"][0]["port"]
    cluster = cluster_name(namespace)

    os.killpg(live.xdscp.popen.pid, signal.SIGSTOP)
    try:
        # The restart closes every watch; xdscp, stopped, cannot open new ones.
        k8s_cluster.expire_resource_versions()
        # Changes no watch carries: only a list can tell xdscp about them.
        kubectl_ok(
            k8s_cluster, "delete", "backendconfigpolicy", "httpbin-keepalive", "-n", namespace
        )
        endpoints["endpoints"][0]["addresses"] = ["10.1.2.3"]
        apply(k8s_cluster, endpoints)
        # Older than the server keeps now: each watch xdscp resumes is answered 410 Gone
        # (including from the bookmark a stopping kube-apiserver sends every watch).
        k8s_cluster.expire_resource_versions()
    finally:
        os.killpg(live.xdscp.popen.pid, signal.SIGCONT)

    wait_cluster(
        live.envoy,
        cluster,
        lambda c: "upstream_connection_options" not in c,
        "the deleted policy gone after the relist",
    )
    wait_for(
        lambda: eds_addresses(live.envoy, cluster) == {("10.1.2.3", port)},
        TIMEOUT,
        "the moved endpoint, and only it",
    )
    wait_for(
        lambda: log(live).count("watch expired (410 Gone); listing again") >= 6 or None,
        TIMEOUT,
        "a relist of every scope",
    )
    rejected = live.envoy.stats("cluster_manager.cds.update_rejected")
    assert rejected == {"cluster_manager.cds.update_rejected": "0"}

    # Back to how the module found it.
    endpoints["endpoints"][0]["addresses"] = [address]
    apply(k8s_cluster, endpoints, guide_policy_text(namespace))
    wait_cluster(live.envoy, cluster, lambda c: keepalive(c) == GUIDE_KEEPALIVE, "guide")


def test_api_server_outage_keeps_envoy_served_and_catches_up(
    live: Live, namespace: str, k8s_cluster: KubeCluster
) -> None:
    cluster = cluster_name(namespace)
    version, retries = snapshot(live), log(live).count("retrying in")
    k8s_cluster.stop_apiserver()
    try:
        wait_for(
            lambda: log(live).count("retrying in") >= retries + 6,  # each watch, once at least
            TIMEOUT,
            "xdscp to notice the outage",
        )
        # The last good snapshot stays served, and Envoy keeps its clusters.
        assert http_get(live.xdscp.admin + "/readyz")[0] == 200
        assert snapshot(live) == version
        assert keepalive(live.envoy.dynamic_clusters()[cluster]) == GUIDE_KEEPALIVE
    finally:
        k8s_cluster.start_apiserver()

    apply(k8s_cluster, guide_policy_text(namespace).replace("Probes: 3", "Probes: 5"))
    wait_cluster(
        live.envoy,
        cluster,
        lambda c: keepalive(c) == {**GUIDE_KEEPALIVE, "keepalive_probes": 5},
        "a change made after the outage",
    )


def test_a_relist_of_the_same_objects_builds_and_writes_nothing(
    live: Live, namespace: str, k8s_cluster: KubeCluster
) -> None:
    def policy_version() -> str:
        body = get_policy(k8s_cluster, namespace, "httpbin-keepalive")
        return str(body["metadata"]["resourceVersion"])

    wait_for(lambda: status_writes(live.xdscp) >= 1, TIMEOUT, "the guide policy's status")
    relists = log(live).count("watch expired (410 Gone); listing again")
    builds, writes, version = builds_done(live), status_writes(live.xdscp), policy_version()

    os.killpg(live.xdscp.popen.pid, signal.SIGSTOP)
    try:
        # Twice: the bookmark the first restart's shutdown sends is too old after the second.
        k8s_cluster.expire_resource_versions()
        k8s_cluster.expire_resource_versions()
    finally:
        os.killpg(live.xdscp.popen.pid, signal.SIGCONT)
    scopes = len(watch_scopes((namespace,)))
    wait_for(
        lambda: log(live).count("watch expired (410 Gone); listing again") >= relists + scopes,
        TIMEOUT,
        "a relist of every scope",
    )

    # Something new after the relists: once Envoy has it, whatever the relists caused is done.
    canary = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "canary", "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 8000}]},
    }
    apply(k8s_cluster, canary)
    wait_cluster(live.envoy, cluster_name(namespace).replace("httpbin", "canary"), bool, "canary")
    assert builds_done(live) == builds + 1  # the canary's: the relists changed nothing
    assert status_writes(live.xdscp) == writes
    assert policy_version() == version
    kubectl_ok(k8s_cluster, "delete", "service", "canary", "-n", namespace)


def builds_done(live: Live) -> float:
    return metric(live.xdscp, "xdscp_snapshot_build_seconds_count")
