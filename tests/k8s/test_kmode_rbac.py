"""deploy/: it applies cleanly, and its ServiceAccount can do what xdscp needs and no more.

xdscp runs here as that ServiceAccount for real: a kubeconfig with a token from the API
server's TokenRequest, which is how a pod's own token authenticates it.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.processes import Xdscp
from xdscp.demo.processes import envoy_binary, wait_for

from .apiserver import KubeCluster
from .kmode import (
    ROOT,
    TIMEOUT,
    apply,
    get_policy,
    policy,
    reasons,
    start_xdscp,
    stopping,
    wait_conditions,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]

DEPLOY = ROOT / "deploy"
NAMESPACE, ACCOUNT = "xdscp-system", "xdscp"
USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "httpbin"},
    "spec": {"ports": [{"name": "http", "port": 8000}]},
}


@pytest.fixture(scope="module")
def deployed(k8s_cluster: KubeCluster) -> None:
    applied = k8s_cluster.kubectl(
        "apply", "--server-side", "-f", str(DEPLOY / "crds"), "-f", str(DEPLOY / "kubernetes")
    )
    assert applied.returncode == 0, applied.stderr


def token_kubeconfig(cluster: KubeCluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, with a token it was issued."""
    core = client.CoreV1Api(cluster.api_client())
    request = {"spec": {"expirationSeconds": 3600}}
    token = core.create_namespaced_service_account_token(account, namespace, request).status.token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {
                    "server": cluster.url,
                    "certificate-authority": str(cluster.certs.ca_cert),
                },
            }
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": account}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def can_i(cluster: KubeCluster, user: str, *args: str) -> str:
    return cluster.kubectl("auth", "can-i", f"--as={user}", *args).stdout.strip()


def assert_least_privilege(cluster: KubeCluster, user: str, namespace: str, lease: str) -> None:
    """`user` (xdscp's ServiceAccount in `namespace`, electing on Lease `lease`) may do what
    xdscp needs and no more: read what it translates, write status, hold its Lease."""
    allowed = [
        ("watch", "services", "-A"),
        ("watch", "secrets", "-A"),  # read for tls.secretRef
        ("list", "endpointslices.discovery.k8s.io", "-A"),
        ("watch", "gateways.gateway.networking.k8s.io", "-A"),
        ("watch", "httproutes.gateway.networking.k8s.io", "-A"),
        ("watch", "referencegrants.gateway.networking.k8s.io", "-A"),
        ("watch", "backendconfigpolicies.gateway.kgateway.dev", "-A"),
        ("watch", "backends.gateway.kgateway.dev", "-A"),
        ("watch", "nodes"),  # optional (15-rbac-nodes.yaml): regions for localities
        ("patch", "backendconfigpolicies.gateway.kgateway.dev", "--subresource=status", "-A"),
        ("patch", "gateways.gateway.networking.k8s.io", "--subresource=status", "-A"),
        ("patch", "httproutes.gateway.networking.k8s.io", "--subresource=status", "-A"),
        ("watch", "gatewayclasses.gateway.networking.k8s.io"),
        ("patch", "gatewayclasses.gateway.networking.k8s.io", "--subresource=status"),
        # The deployer: an Envoy per Gateway, applied server-side.
        ("create", "deployments.apps", "-A"),
        ("patch", "deployments.apps", "-A"),
        ("patch", "services", "-A"),
        ("patch", "configmaps", "-A"),
        ("get", "configmaps", "-A"),  # a Gateway's parametersRef
        ("patch", "serviceaccounts", "-A"),
        ("create", "leases.coordination.k8s.io", "-n", namespace),
        ("update", f"leases.coordination.k8s.io/{lease}", "-n", namespace),
    ]
    refused = [
        ("patch", "backendconfigpolicies.gateway.kgateway.dev", "-A"),
        ("update", "backendconfigpolicies.gateway.kgateway.dev", "-A"),
        ("patch", "gateways.gateway.networking.k8s.io", "-A"),
        ("update", "gateways.gateway.networking.k8s.io", "-A"),
        ("patch", "httproutes.gateway.networking.k8s.io", "-A"),
        ("update", "httproutes.gateway.networking.k8s.io", "--subresource=status", "-A"),
        ("patch", "referencegrants.gateway.networking.k8s.io", "-A"),
        ("delete", "services", "-A"),
        ("delete", "deployments.apps", "-A"),  # the garbage collector deletes them
        ("list", "configmaps", "-A"),
        ("create", "pods", "-A"),
        ("patch", "gatewayclasses.gateway.networking.k8s.io"),
        ("patch", "nodes"),
        ("create", "secrets", "-A"),
        ("update", "secrets", "-A"),
        ("patch", "secrets", "-A"),
        ("delete", "secrets", "-A"),
        ("update", "leases.coordination.k8s.io/kube-scheduler", "-n", namespace),
        ("create", "leases.coordination.k8s.io", "-n", "default"),
    ]
    assert {a: can_i(cluster, user, *a) for a in allowed} == {a: "yes" for a in allowed}
    assert {a: can_i(cluster, user, *a) for a in refused} == {a: "no" for a in refused}


def test_the_deploy_tree_applies_again_unchanged(deployed: None, k8s_cluster: KubeCluster) -> None:
    again = k8s_cluster.kubectl(
        "apply", "--server-side", "-f", str(DEPLOY / "crds"), "-f", str(DEPLOY / "kubernetes")
    )
    assert again.returncode == 0, again.stderr
    deployment = yaml.safe_load(
        k8s_cluster.kubectl("get", "deployment", "xdscp", "-n", NAMESPACE, "-o", "yaml").stdout
    )
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--admin-host=0.0.0.0" in container["args"]


def test_the_envoy_bootstrap_is_ours_pointed_at_the_service(tmp_path: Path) -> None:
    config_map = next(
        doc
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "30-envoy.yaml").read_text())
        if doc["kind"] == "ConfigMap"
    )
    deployed = yaml.safe_load(config_map["data"]["bootstrap.yaml"])
    shipped = yaml.safe_load((ROOT / "envoy" / "bootstrap.yaml").read_text())

    assert deployed["node"] == shipped["node"]
    assert deployed["dynamic_resources"] == shipped["dynamic_resources"]
    xdscp = copy.deepcopy(shipped["static_resources"]["clusters"][0])
    endpoint = xdscp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"]["address"] = "xdscp.xdscp-system.svc.cluster.local"
    assert deployed["static_resources"]["clusters"][0] == xdscp
    # The real Envoy accepts it.
    path = tmp_path / "bootstrap.yaml"
    path.write_text(config_map["data"]["bootstrap.yaml"])
    validated = _run([str(envoy_binary()), "--mode", "validate", "-c", str(path)])
    assert "OK" in validated


def test_the_service_account_may_do_what_xdscp_needs_and_no_more(
    deployed: None, k8s_cluster: KubeCluster
) -> None:
    # RBAC reaches the authorizer through an informer, a moment after the write.
    wait_for(
        lambda: can_i(k8s_cluster, USER, "list", "services", "-A") == "yes",
        TIMEOUT,
        "the ClusterRoleBinding to take effect",
    )
    assert_least_privilege(k8s_cluster, USER, NAMESPACE, lease="xdscp")


@pytest.fixture
def as_account(deployed: None, k8s_cluster: KubeCluster, tmp_path: Path) -> Iterator[Xdscp]:
    """xdscp as deploy/'s ServiceAccount, holding deploy/'s Lease."""
    kubeconfig = token_kubeconfig(k8s_cluster, NAMESPACE, ACCOUNT, tmp_path / "kubeconfig")
    server = start_xdscp(kubeconfig, tmp_path, lease_namespace=NAMESPACE, identity="xdscp-sa")
    with stopping(server):
        yield server


def test_xdscp_as_the_service_account_serves_and_writes_status_but_no_spec(
    as_account: Xdscp, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    ns = k8s_namespace
    apply(
        k8s_cluster,
        {**SERVICE, "metadata": {"name": "httpbin", "namespace": ns}},
        policy(ns, "keepalive", {"tcpKeepalive": {"keepAliveProbes": 3}}),
    )
    wait_conditions(
        k8s_cluster,
        ns,
        "keepalive",
        lambda c: (
            reasons(c)
            == {("httpbin", "Accepted"): "True Valid", ("httpbin", "Attached"): "True Attached"}
        ),
        "status written as the ServiceAccount",
    )
    clusters = as_account.get_json("/status")
    assert clusters["snapshot"]
    lease = client.CoordinationV1Api(k8s_cluster.api_client()).read_namespaced_lease(
        "xdscp", NAMESPACE
    )
    assert lease.spec.holder_identity == "xdscp-sa"
    assert "forbidden" not in as_account.log_path.read_text().lower()

    # The same account may not touch a policy's spec.
    api = client.CustomObjectsApi(k8s_cluster.impersonating(NAMESPACE, ACCOUNT))
    with pytest.raises(client.ApiException) as refused:
        api.patch_namespaced_custom_object(
            "gateway.kgateway.dev",
            "v1alpha1",
            ns,
            "backendconfigpolicies",
            "keepalive",
            {"spec": {"tcpKeepalive": {"keepAliveProbes": 9}}},
        )
    assert refused.value.status == 403
    spec = get_policy(k8s_cluster, ns, "keepalive")["spec"]
    assert spec["tcpKeepalive"] == {"keepAliveProbes": 3}

    # Nor a Gateway's or an HTTPRoute's, though it may write their status.
    gateway, route = (
        {**o, "metadata": {**o["metadata"], "namespace": ns}}
        for o in yaml.safe_load_all((ROOT / "policies" / "gateway.yaml").read_text())
    )
    (gateway_class,) = yaml.safe_load_all((ROOT / "policies" / "gatewayclass.yaml").read_text())
    apply(k8s_cluster, gateway_class, gateway, route)
    # (A status the CRD accepts whether or not xdscp has written the route's yet.)
    for plural, name, patch, status in (
        (
            "gateways",
            gateway["metadata"]["name"],
            {"spec": {"gatewayClassName": "other"}},
            {"status": {}},
        ),
        (
            "httproutes",
            route["metadata"]["name"],
            {"spec": {"hostnames": ["evil.example"]}},
            {"status": {"parents": []}},
        ),
    ):
        with pytest.raises(client.ApiException) as refused:
            api.patch_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", ns, plural, name, patch
            )
        assert refused.value.status == 403, plural
        api.patch_namespaced_custom_object_status(
            "gateway.networking.k8s.io", "v1", ns, plural, name, status
        )  # the status subresource is allowed


def test_a_kind_xdscp_may_not_list_is_reported_and_retried(
    deployed: None, k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    ns = k8s_namespace
    rules = _deployed_rules()
    without_backends = [
        {**rule, "resources": [r for r in rule["resources"] if r != "backends"]} for rule in rules
    ]
    rbac = client.RbacAuthorizationV1Api(k8s_cluster.api_client())
    core = client.CoreV1Api(k8s_cluster.api_client())
    core.create_namespaced_service_account(ns, {"metadata": {"name": "partial"}})
    role: dict[str, Any] = {"metadata": {"name": ns}, "rules": without_backends}
    rbac.create_cluster_role(role)
    subject = [{"kind": "ServiceAccount", "name": "partial", "namespace": ns}]
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ns},
            "subjects": subject,
        }
    )
    rbac.create_namespaced_role_binding(
        NAMESPACE,
        {
            "metadata": {"name": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "xdscp-leader-election",
            },
            "subjects": subject,
        },
    )
    apply(k8s_cluster, {**SERVICE, "metadata": {"name": "httpbin", "namespace": ns}})
    wait_for(
        lambda: (
            can_i(k8s_cluster, f"system:serviceaccount:{ns}:partial", "list", "services") == "yes"
        ),
        TIMEOUT,
        "the partial ClusterRole to take effect",
    )
    kubeconfig = token_kubeconfig(k8s_cluster, ns, "partial", tmp_path / "kubeconfig")
    server = start_xdscp(
        kubeconfig, tmp_path, lease_namespace=NAMESPACE, identity="partial", namespaces=(ns,)
    )
    with stopping(server):

        def problems() -> list[str]:
            found: list[str] = server.get_json("/policies")["problems"]
            return found

        forbidden = wait_for(
            lambda: [p for p in problems() if "backends.gateway.kgateway.dev" in p] or None,
            TIMEOUT,
            "the forbidden kind reported",
        )
        assert "forbidden" in forbidden[0], forbidden
        # Nodes are refused too, but they are optional: not a problem, only no regions.
        assert not [p for p in problems() if "nodes" in p]
        # Everything else is served meanwhile.
        assert server.get_json("/status")["snapshot"] != "(none)"

        rbac.patch_cluster_role(ns, {"rules": rules})
        wait_for(lambda: not problems() or None, TIMEOUT, "the kind listed once allowed")


def _deployed_rules() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "10-rbac.yaml").read_text())
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr
