"""API Priority and Fairness turning status writes away: xdscp, as a ServiceAccount whose
patches go to a priority level of a few seats that rejects the rest (429 with Retry-After),
still writes every status, and counts the refusals as `throttled`, not as errors.

The admin of the test cluster is in system:masters, which APF exempts; so xdscp runs here with a
ServiceAccount's token, as it does in a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from xdscp.demo.processes import wait_for

from .apiserver import KubeCluster
from .kmode import apply, kubectl_ok, metric, policy, start_xdscp, status_writes, stopping
from .test_kmode_rbac import token_kubeconfig

pytestmark = [pytest.mark.apiserver, pytest.mark.process]

ACCOUNT = "throttled-writer"
POLICIES = 100
WRITES = 'xdscp_status_writes_total{kind="BackendConfigPolicy",result="%s"}'


def flow_control(namespace: str) -> list[dict[str, object]]:
    """A priority level of about three seats that rejects what does not fit (no queue, no
    borrowing), and the FlowSchema sending the account's patches there."""
    level = f"xdscp-test-{namespace}"[:63]
    return [
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": level},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 1,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": level},
            "spec": {
                "priorityLevelConfiguration": {"name": level},
                "matchingPrecedence": 100,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [
                            {
                                "kind": "ServiceAccount",
                                "serviceAccount": {"name": ACCOUNT, "namespace": namespace},
                            }
                        ],
                        "resourceRules": [
                            {
                                "verbs": ["patch"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "namespaces": ["*"],
                            }
                        ],
                    }
                ],
            },
        },
    ]


@pytest.fixture
def throttled_account(
    k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> Iterator[Path]:
    """A kubeconfig for a ServiceAccount of the test's namespace whose patches APF throttles."""
    ns = k8s_namespace
    kubectl_ok(k8s_cluster, "create", "serviceaccount", ACCOUNT, "-n", ns)
    kubectl_ok(
        k8s_cluster,
        "create",
        "rolebinding",
        ACCOUNT,
        "-n",
        ns,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={ns}:{ACCOUNT}",
    )
    apply(k8s_cluster, *flow_control(ns))
    try:
        yield token_kubeconfig(k8s_cluster, ns, ACCOUNT, tmp_path / "kubeconfig")
    finally:
        text = yaml.safe_dump_all(flow_control(ns))
        k8s_cluster.kubectl("delete", "--ignore-not-found", "-f", "-", input=text)


def test_statuses_refused_with_429_are_written_in_the_end(
    throttled_account: Path, k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    ns = k8s_namespace
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"s{i}", "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 8000}]},
        }
        for i in range(POLICIES)
    ]
    policies = [
        policy(ns, f"p{i}", {"connectTimeout": "2s"}, target=f"s{i}") for i in range(POLICIES)
    ]
    apply(k8s_cluster, *services, *policies)
    # Started after: its first pass has every status to write, 16 at a time, on three seats.
    xdscp = start_xdscp(throttled_account, tmp_path, lease_namespace=ns, namespaces=(ns,))
    with stopping(xdscp):
        wait_for(lambda: status_writes(xdscp) >= POLICIES, 120, f"all {POLICIES} statuses")
        assert metric(xdscp, WRITES % "throttled") > 0  # APF did turn writes away
        assert metric(xdscp, WRITES % "error") == 0
    written = kubectl_ok(
        k8s_cluster,
        "get",
        "backendconfigpolicy",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.status.ancestors[0].conditions[0].reason}{'\\n'}{end}",
    ).split()
    assert written == ["Valid"] * POLICIES
