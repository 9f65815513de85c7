"""Status written back to BackendConfigPolicies: every reason, and only when it changes.

One xdscp serves the module (no Envoy: these tests read what the API server stores).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.processes import Xdscp
from xdscp.demo.processes import wait_for

from .apiserver import KubeCluster
from .kmode import (
    TIMEOUT,
    apply,
    conditions,
    get_policy,
    policy,
    reasons,
    start_xdscp,
    status_writes,
    stopping,
    wait_conditions,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.process]

KEEPALIVE = {"tcpKeepalive": {"keepAliveProbes": 3}}


@pytest.fixture(scope="module")
def xdscp(k8s_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Xdscp]:
    lease_namespace = k8s_cluster.create_namespace("kmode-status")
    workdir = tmp_path_factory.mktemp("kmode-status")
    server = start_xdscp(k8s_cluster.kubeconfig, workdir, lease_namespace=lease_namespace)
    with stopping(server):
        yield server


def service(namespace: str, name: str = "httpbin") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 8000}]},
    }


def settled(
    cluster: KubeCluster, namespace: str, name: str, expected: dict[tuple[str, str], str]
) -> dict[tuple[str, str], dict[str, Any]]:
    return wait_conditions(
        cluster, namespace, name, lambda c: reasons(c) == expected, f"{name}: {expected}"
    )


def test_valid_missing_target_and_invalid(
    xdscp: Xdscp, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    del xdscp
    ns = k8s_namespace
    missing = policy(ns, "missing", KEEPALIVE, target="nope")
    both = policy(ns, "both", {"perConnectionBufferLimitBytes": 1024})
    both["spec"]["targetRefs"].append({"group": "", "kind": "Service", "name": "nope"})
    apply(
        k8s_cluster,
        service(ns),
        policy(ns, "valid", KEEPALIVE),
        missing,
        both,
        policy(ns, "invalid", {"connectTimeout": "0s"}),
    )

    valid = settled(
        k8s_cluster,
        ns,
        "valid",
        {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Merged"},
    )
    assert valid[("httpbin", "Accepted")]["observedGeneration"] == 1
    found = settled(
        k8s_cluster,
        ns,
        "missing",
        {("nope", "Accepted"): "False TargetNotFound", ("nope", "Attached"): "False Pending"},
    )
    assert found[("nope", "Accepted")]["message"] == f"Service {ns}/nope not found"
    settled(
        k8s_cluster,
        ns,
        "both",
        {
            ("httpbin", "Accepted"): "True Valid",
            ("httpbin", "Attached"): "True Merged",
            ("nope", "Accepted"): "False TargetNotFound",
            ("nope", "Attached"): "False Pending",
        },
    )
    invalid = settled(
        k8s_cluster,
        ns,
        "invalid",
        {("httpbin", "Accepted"): "False Invalid", ("httpbin", "Attached"): "False Pending"},
    )
    message = invalid[("httpbin", "Accepted")]["message"]
    assert message.startswith('spec.connectTimeout: Invalid value: "0s"'), message
    for condition in invalid.values():
        assert condition["lastTransitionTime"].endswith("Z")


def test_merged_and_overridden(xdscp: Xdscp, k8s_cluster: KubeCluster, k8s_namespace: str) -> None:
    del xdscp
    ns = k8s_namespace
    # Created in this order; names break a creationTimestamp tie (1 s resolution) the same way.
    apply(
        k8s_cluster,
        service(ns),
        policy(ns, "a-oldest", {**KEEPALIVE, "connectTimeout": "3s"}),
        policy(ns, "b-merged", {"connectTimeout": "4s", "perConnectionBufferLimitBytes": 1024}),
        policy(ns, "c-overridden", {"tcpKeepalive": {"keepAliveProbes": 9}}),
    )

    settled(
        k8s_cluster,
        ns,
        "a-oldest",
        {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Merged"},
    )
    merged = settled(
        k8s_cluster,
        ns,
        "b-merged",
        {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Merged"},
    )
    assert f"connectTimeout by {ns}/a-oldest" in merged[("httpbin", "Attached")]["message"]
    overridden = settled(
        k8s_cluster,
        ns,
        "c-overridden",
        {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Overridden"},
    )
    assert overridden[("httpbin", "Attached")]["message"] == f"tcpKeepalive set by {ns}/a-oldest"


def test_status_is_written_only_when_it_changes(
    xdscp: Xdscp, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    ns = k8s_namespace
    apply(k8s_cluster, service(ns), policy(ns, "first", KEEPALIVE))
    attached = {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Attached"}
    before = settled(k8s_cluster, ns, "first", attached)
    version = get_policy(k8s_cluster, ns, "first")["metadata"]["resourceVersion"]
    writes = status_writes(xdscp)

    # A new view (another Service) makes the writer look at every policy again. Once a second
    # policy's status shows up, that pass is over: it wrote the new policy's status only.
    apply(k8s_cluster, service(ns, "other"), policy(ns, "second", KEEPALIVE, target="other"))
    settled(
        k8s_cluster,
        ns,
        "second",
        {("other", "Accepted"): "True Valid", ("other", "Attached"): "True Attached"},
    )
    assert wait_for(lambda: status_writes(xdscp) == writes + 1 or None, TIMEOUT, "one write")
    assert get_policy(k8s_cluster, ns, "first")["metadata"]["resourceVersion"] == version

    # A new generation rewrites observedGeneration but keeps lastTransitionTime: the
    # conditions' status did not change.
    apply(k8s_cluster, policy(ns, "first", {"tcpKeepalive": {"keepAliveProbes": 4}}))
    after = wait_conditions(
        k8s_cluster,
        ns,
        "first",
        lambda c: c[("httpbin", "Accepted")]["observedGeneration"] == 2,
        "observedGeneration 2",
    )
    assert reasons(after) == attached
    for key, condition in after.items():
        assert condition["lastTransitionTime"] == before[key]["lastTransitionTime"]
    assert status_writes(xdscp) == writes + 2

    # An invalid spec flips Accepted: now its lastTransitionTime moves.
    apply(k8s_cluster, policy(ns, "first", {"connectTimeout": "0s"}))
    invalid = wait_conditions(
        k8s_cluster,
        ns,
        "first",
        lambda c: c[("httpbin", "Accepted")]["status"] == "False",
        "first invalid",
    )
    assert (
        invalid[("httpbin", "Attached")]["lastTransitionTime"]
        == (before[("httpbin", "Attached")]["lastTransitionTime"])
    )
    assert (
        conditions(get_policy(k8s_cluster, ns, "first"))[("httpbin", "Accepted")][
            "observedGeneration"
        ]
        == 3
    )
