"""tls.secretRef in Kubernetes mode: Secrets made and rotated with kubectl, read by xdscp as
deploy/'s ServiceAccount, served to a live Envoy over SDS, against a TLS upstream that demands
a client certificate (tests/e2e/tls_upstream.py).

Shown: a 200 with the Secret's client certificate on the wire; a rotation through kubectl (new
CA and client certificate, the upstream switched to the new CA) reaches new connections while
Envoy's CDS update count and the cluster's version stay put; deleting the Secret keeps the last
good one and says so in the policy's status; a Secret of the same name in another namespace is
never used; the ServiceAccount may read Secrets but not write them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.certs import MtlsPaths, write_mtls
from tests.e2e.tls_upstream import TlsUpstream, answered_as
from tests.live import cluster_version
from tests.processes import Envoy, Xdscp, free_port
from xdscp.demo.processes import Httpbin, wait_for

from .apiserver import KubeCluster
from .kmode import (
    TIMEOUT,
    apply,
    cluster_name,
    gateway_objects,
    httpbin_objects,
    kubectl_ok,
    node_address,
    policy,
    start_envoy,
    stopping,
    wait_conditions,
)
from .test_kmode_rbac import ACCOUNT, NAMESPACE, as_account, deployed

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]
__all__ = ["as_account", "deployed"]  # fixtures this module uses
SECRET = "upstream-client"


def kubectl_secret(cluster: KubeCluster, namespace: str, certs: MtlsPaths, client: str) -> None:
    """`kubectl create secret ... | kubectl apply`: how a Secret is made or rotated by hand."""
    cert, key = certs.clients[client]
    made = kubectl_ok(
        cluster,
        "create",
        "secret",
        "generic",
        SECRET,
        "-n",
        namespace,
        "--type=kubernetes.io/tls",
        f"--from-file=tls.crt={cert}",
        f"--from-file=tls.key={key}",
        f"--from-file=ca.crt={certs.ca_cert}",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    applied = cluster.kubectl("apply", "-f", "-", input=made)
    assert applied.returncode == 0, applied.stderr


def accepted_message(cluster: KubeCluster, namespace: str, check: str) -> str:
    found = wait_conditions(
        cluster,
        namespace,
        "mtls",
        lambda c: check in c.get(("httpbin", "Accepted"), {}).get("message", ""),
        f"the policy's status to say {check!r}",
    )
    message: str = found[("httpbin", "Accepted")]["message"]
    return message


def test_secret_made_and_rotated_with_kubectl_reaches_envoy_over_sds(
    as_account: Xdscp,
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    httpbin: Httpbin,
    tmp_path: Path,
) -> None:
    ns, listener_port = k8s_namespace, free_port()
    old = write_mtls(tmp_path / "old", ["envoy-old"])
    new = write_mtls(tmp_path / "new", ["envoy-new"])
    httpbin_port = int(httpbin.url.rsplit(":", 1)[1])
    with TlsUpstream(httpbin_port, old, proxy_protocol=False, host=node_address()) as upstream:
        service, endpoints = httpbin_objects(ns, httpbin)
        endpoints["endpoints"][0]["addresses"] = [upstream.host]
        endpoints["ports"][0]["port"] = upstream.port
        tls = {
            "secretRef": {"name": SECRET},
            "sni": "localhost",
            "verifySubjectAltNames": ["localhost"],
        }
        apply(k8s_cluster, service, endpoints, *gateway_objects(ns, listener_port))
        apply(k8s_cluster, policy(ns, "mtls", {"tls": tls}))
        kubectl_secret(k8s_cluster, ns, old, "envoy-old")
        envoy = start_envoy(as_account, tmp_path)
        with stopping(envoy):
            _mtls_rotation_and_deletion(k8s_cluster, ns, envoy, upstream, (old, new), listener_port)


def _mtls_rotation_and_deletion(
    cluster: KubeCluster,
    ns: str,
    envoy: Envoy,
    upstream: TlsUpstream,
    certs: tuple[MtlsPaths, MtlsPaths],
    listener_port: int,
) -> None:
    old, new = certs
    listener, name = f"http://127.0.0.1:{listener_port}", cluster_name(ns)
    sds = f"sds.{ns}/{SECRET}.version_text"
    wait_for(lambda: answered_as(listener, upstream, "envoy-old"), TIMEOUT, "200 with envoy-old")
    accepted_message(cluster, ns, "policy is valid")
    cds_before = envoy.stats("cluster_manager.cds.")["cluster_manager.cds.update_success"]
    version_before, sds_before = cluster_version(envoy, name), envoy.stats(sds)[sds]

    # Rotation through kubectl: the upstream now trusts only the new CA.
    upstream.rotate(new)
    kubectl_secret(cluster, ns, new, "envoy-new")
    wait_for(lambda: envoy.stats(sds)[sds] != sds_before, TIMEOUT, "Envoy to take the rotation")
    upstream.drop()  # open connections drain on their own; new ones show the new certificate
    wait_for(lambda: answered_as(listener, upstream, "envoy-new"), TIMEOUT, "200 with envoy-new")
    assert envoy.stats("cluster_manager.cds.")["cluster_manager.cds.update_success"] == cds_before
    assert cluster_version(envoy, name) == version_before

    # Deleted: the last good Secret stays served, and the status says so.
    kubectl_ok(cluster, "delete", "secret", SECRET, "-n", ns)
    message = accepted_message(cluster, ns, "not found")
    assert f"Secret {ns}/{SECRET} not found" in message and "last good version" in message
    sds_after = envoy.stats(sds)[sds]

    # A Secret of that name in another namespace (the old pair, which the upstream refuses
    # now) is never used: the policy's own stays missing and its last good one is served.
    elsewhere = cluster.create_namespace("elsewhere")
    kubectl_secret(cluster, elsewhere, old, "envoy-old")
    kubectl_ok(cluster, "annotate", "backendconfigpolicy", "mtls", "-n", ns, "touched=1")
    connections = len(upstream.seen())
    upstream.drop()
    wait_for(lambda: answered_as(listener, upstream, "envoy-new"), TIMEOUT, "200 after deletion")
    assert envoy.stats(sds)[sds] == sds_after
    assert f"Secret {ns}/{SECRET} not found" in accepted_message(cluster, ns, "not found")
    assert {c.client_common_name for c in upstream.seen()[connections:]} == {"envoy-new"}


def test_the_service_account_reads_secrets_and_cannot_write_them(
    deployed: None, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    core = client.CoreV1Api(k8s_cluster.impersonating(NAMESPACE, ACCOUNT))
    assert core.list_namespaced_secret(k8s_namespace).items == []
    body = {"metadata": {"name": "planted"}, "stringData": {"ca.crt": "x"}}
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_secret(k8s_namespace, body)
    assert refused.value.status == 403
