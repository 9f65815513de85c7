"""Two replicas: both serve the same snapshots, one writes status, and the other takes over
when it dies (within the lease duration) or hands the Lease back (at once).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.processes import Envoy, Xdscp
from xdscp.demo.processes import wait_for

from .apiserver import KubeCluster
from .kmode import (
    LEASE_SECONDS,
    TIMEOUT,
    apply,
    get_policy,
    metric,
    policy,
    start_envoy,
    start_xdscp,
    status_writes,
    wait_conditions,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]

IDENTITIES = ("xdscp-a", "xdscp-b")
KEEPALIVE = {"tcpKeepalive": {"keepAliveProbes": 3}}


@pytest.fixture
def replicas(
    k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> Iterator[dict[str, Xdscp]]:
    """Two xdscp processes on one Lease in the test's namespace, watching only it."""
    started: dict[str, Xdscp] = {}
    try:
        for identity in IDENTITIES:
            workdir = tmp_path / identity
            workdir.mkdir()
            started[identity] = start_xdscp(
                k8s_cluster.kubeconfig,
                workdir,
                lease_namespace=k8s_namespace,
                identity=identity,
                namespaces=(k8s_namespace,),
            )
        yield started
    finally:
        for process in started.values():
            process.stop()


def holder(cluster: KubeCluster, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(cluster.api_client()).read_namespaced_lease(
            "xdscp", namespace
        )
    except client.ApiException:
        return None
    identity: str | None = lease.spec.holder_identity
    return identity or None


def leader(cluster: KubeCluster, namespace: str, replicas: dict[str, Xdscp]) -> str:
    """The Lease holder, once it also says so itself (its xdscp_leader gauge)."""
    return wait_for(
        lambda: (
            name
            if (name := holder(cluster, namespace)) in replicas
            and metric(replicas[name], "xdscp_leader") == 1
            else None
        ),
        TIMEOUT,
        "a leader",
    )


def apply_policies(cluster: KubeCluster, namespace: str, probes: int = 3) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "httpbin", "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 8000}]},
    }
    apply(
        cluster,
        service,
        policy(namespace, "changing", {"tcpKeepalive": {"keepAliveProbes": probes}}),
        policy(namespace, "untouched", {"connectTimeout": "2s"}),
    )


def observed(cluster: KubeCluster, namespace: str, name: str, generation: int) -> None:
    wait_conditions(
        cluster,
        namespace,
        name,
        lambda c: all(x["observedGeneration"] == generation for x in c.values()),
        f"{name}'s status at generation {generation}",
    )


def test_one_leader_writes_both_serve_and_the_other_takes_over(
    replicas: dict[str, Xdscp], k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    ns = k8s_namespace
    envoys: list[Envoy] = []
    with contextlib.ExitStack() as running:
        for identity, xdscp in replicas.items():
            envoys.append(start_envoy(xdscp, tmp_path / identity, name=f"envoy-{identity}"))
            running.callback(envoys[-1].stop)
        first = leader(k8s_cluster, ns, replicas)
        (second,) = set(replicas) - {first}
        apply_policies(k8s_cluster, ns)
        for name in ("changing", "untouched"):
            observed(k8s_cluster, ns, name, 1)
        assert status_writes(replicas[first]) >= 2
        assert status_writes(replicas[second]) == 0
        assert metric(replicas[second], "xdscp_leader") == 0

        # Same input, same snapshot: both replicas, and the Envoys they serve, agree.
        def agreed() -> bool:
            served = {x.get_json("/status")["snapshot"] for x in replicas.values()}
            applied = {
                e.stats("cluster_manager.cds.version_text").get("cluster_manager.cds.version_text")
                for e in envoys
            }
            return len(served) == 1 and len(applied) == 1 and None not in applied

        wait_for(agreed, TIMEOUT, "one snapshot version on both replicas and both Envoys")

        untouched = get_policy(k8s_cluster, ns, "untouched")["metadata"]["resourceVersion"]
        replicas[first].stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: holder(k8s_cluster, ns) == second, TIMEOUT, f"{second} to lead")
        took = time.monotonic() - killed
        # The follower waits for a lease duration without renewal, seen on its own clock
        # and checked every retry period (duration / 7.5).
        assert took < LEASE_SECONDS * (1 + 1 / 7.5) + 1, took

        # The new leader found every status right: it writes only what changes.
        apply_policies(k8s_cluster, ns, probes=4)
        observed(k8s_cluster, ns, "changing", 2)
        assert wait_for(lambda: status_writes(replicas[second]) == 1 or None, TIMEOUT, "one write")
        after = get_policy(k8s_cluster, ns, "untouched")["metadata"]["resourceVersion"]
        assert after == untouched


def test_a_stopping_leader_hands_the_lease_over_at_once(
    replicas: dict[str, Xdscp], k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    first = leader(k8s_cluster, k8s_namespace, replicas)
    (second,) = set(replicas) - {first}
    replicas[first].stop()  # SIGTERM: xdscp releases the Lease on its way out
    stopped = time.monotonic()
    wait_for(lambda: holder(k8s_cluster, k8s_namespace) == second, TIMEOUT, f"{second} to lead")
    assert time.monotonic() - stopped < LEASE_SECONDS / 2
