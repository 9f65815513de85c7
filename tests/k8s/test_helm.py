"""The Helm chart: it lints, its values do what they say, deploy/ is its default rendering,
and `helm install` on the real API server grants xdscp status writes but no spec writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from xdscp.demo.processes import wait_for

from .apiserver import KubeCluster
from .chart import CHART, CRD_DIR, KUBERNETES_DIR, deploy_tree, helm, template
from .kmode import TIMEOUT, apply, get_policy, policy
from .test_kmode_rbac import assert_least_privilege, can_i

pytestmark = [pytest.mark.apiserver, pytest.mark.process]

# Value sets a user would pass, each with what it must change in the rendered objects.
VALUE_SETS = {
    "defaults": [],
    "namespaced": ["watchNamespaces={team-a,team-b}"],
    "mtls-json-logs": [
        "xds.tls.enabled=true",
        "xds.tls.requireClientCertificates=true",
        "logFormat=json",
    ],
    "no-envoy-no-pdb-no-nodes": [
        "envoy.enabled=false",
        "podDisruptionBudget.enabled=false",
        "readNodes=false",
        "deployer.enabled=false",
    ],
    "sized": [
        "replicas=3",
        "resources.limits.memory=1Gi",
        "image.tag=0.2.0",
        "leaderElection.leaseName=xdscp-edge",
        "leaderElection.leaseDurationSeconds=30",
    ],
}


def objects(rendered: str) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    """(kind, name, namespace) -> object, for every document helm rendered."""
    found = {}
    for doc in yaml.safe_load_all(rendered):
        if doc:
            meta = doc["metadata"]
            found[doc["kind"], meta["name"], meta.get("namespace")] = doc
    return found


def of_kind(rendered: str, kind: str) -> list[dict[str, Any]]:
    return [doc for (k, _, _), doc in objects(rendered).items() if k == kind]


def xdscp_container(rendered: str) -> dict[str, Any]:
    deployment = objects(rendered)["Deployment", "xdscp", "xdscp-system"]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_passes_strict(name: str) -> None:
    sets = [f"--set={value}" for value in VALUE_SETS[name]]
    linted = helm("lint", "--strict", str(CHART), *sets)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 chart(s) failed" in linted.stdout


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("logFormat=xml", "at '/logFormat': value must be one of 'text', 'json'"),
        ("replica=3", "additional properties 'replica' not allowed"),  # a typo of replicas
        ("xds.tls.enable=true", "at '/xds/tls': additional properties 'enable' not allowed"),
        ("watchNamespaces={Team_A}", "at '/watchNamespaces/0': 'Team_A' does not match"),
        ("xds.port=70000", "at '/xds/port'"),
        ("replicas=two", "at '/replicas'"),
    ],
)
def test_a_bad_value_is_refused_naming_it(value: str, named: str) -> None:
    """values.schema.json: helm install, template and lint stop at a mistyped or invalid
    value, naming it, instead of rendering something that silently ignores it."""
    done = helm("template", "xdscp", str(CHART), f"--set={value}")
    assert done.returncode != 0, done.stdout
    assert named in done.stderr


def test_deploy_holds_the_chart_rendered_with_default_values() -> None:
    """deploy/kubernetes and deploy/crds are `make deploy-render`'s output, byte for byte."""
    expected = deploy_tree()
    on_disk = {p: p.read_text() for d in (KUBERNETES_DIR, CRD_DIR) for p in d.glob("*.yaml")}
    assert sorted(on_disk) == sorted(expected), "run `make deploy-render`"
    stale = [str(path) for path, text in expected.items() if on_disk[path] != text]
    assert not stale, (
        f"{stale} differ from the chart: edit deploy/helm/xdscp, then run `make deploy-render`"
    )


def test_default_values_are_what_deploy_kubernetes_always_had() -> None:
    rendered = template()
    container = xdscp_container(rendered)
    assert objects(rendered)["Deployment", "xdscp", "xdscp-system"]["spec"]["replicas"] == 2
    assert container["image"] == "ghcr.io/xdscp/xdscp:0.1.0"
    assert container["args"][:3] == ["--log-format=text", "serve", "--kubernetes"]
    assert "--lease-name=xdscp" in container["args"]
    assert not [a for a in container["args"] if a.startswith(("--namespace", "--tls"))]
    assert {b["roleRef"]["name"] for b in of_kind(rendered, "ClusterRoleBinding")} == {
        "xdscp",
        "xdscp-gatewayclasses",
        "xdscp-nodes",
    }
    assert of_kind(rendered, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 1
    assert {d["metadata"]["name"] for d in of_kind(rendered, "Deployment")} == {
        "xdscp",
        "xdscp-envoy",
    }


def test_watch_namespaces_bind_the_role_there_instead_of_cluster_wide() -> None:
    rendered = template(VALUE_SETS["namespaced"])
    # Nodes and GatewayClasses are cluster-scoped: only their bindings stay cluster-wide.
    assert [b["roleRef"]["name"] for b in of_kind(rendered, "ClusterRoleBinding")] == [
        "xdscp-nodes",
        "xdscp-gatewayclasses",
    ]
    bindings = {
        b["metadata"]["namespace"]: b["roleRef"]
        for b in of_kind(rendered, "RoleBinding")
        if b["roleRef"]["kind"] == "ClusterRole"
    }
    assert bindings == {
        ns: {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "xdscp"}
        for ns in ("team-a", "team-b")
    }
    args = xdscp_container(rendered)["args"]
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]


def test_xds_mtls_mounts_the_secret_in_xdscp_and_envoy_and_json_logs() -> None:
    rendered = template(VALUE_SETS["mtls-json-logs"])
    container = xdscp_container(rendered)
    assert container["args"][0] == "--log-format=json"
    assert {
        "--tls-cert=/etc/xdscp/tls/tls.crt",
        "--tls-key=/etc/xdscp/tls/tls.key",
        "--tls-client-ca=/etc/xdscp/tls/ca.crt",
    } <= set(container["args"])
    pod = objects(rendered)["Deployment", "xdscp", "xdscp-system"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "xds-tls", "secret": {"secretName": "xdscp-xds-tls"}}]
    config_map = objects(rendered)["ConfigMap", "xdscp-envoy-bootstrap", "xdscp-system"]
    bootstrap = yaml.safe_load(config_map["data"]["bootstrap.yaml"])
    xds_cluster = bootstrap["static_resources"]["clusters"][0]
    tls = xds_cluster["transport_socket"]["typed_config"]
    service = "xdscp.xdscp-system.svc.cluster.local"
    assert tls["sni"] == service
    assert tls["common_tls_context"]["validation_context"]["trusted_ca"] == {
        "filename": "/etc/envoy/xds-tls/ca.crt"
    }
    assert tls["common_tls_context"]["tls_certificates"][0]["certificate_chain"] == {
        "filename": "/etc/envoy/xds-client/tls.crt"
    }
    envoy_pod = objects(rendered)["Deployment", "xdscp-envoy", "xdscp-system"]["spec"]["template"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in envoy_pod["spec"]["volumes"][1:]}
    assert secrets == {"xds-tls": "xdscp-xds-tls", "xds-client": "envoy-xds-client-tls"}
    # A changed bootstrap rolls Envoy's pods.
    default_pod = objects(template())["Deployment", "xdscp-envoy", "xdscp-system"]["spec"]
    checksum = "checksum/bootstrap"
    assert (
        envoy_pod["metadata"]["annotations"][checksum]
        != (default_pod["template"]["metadata"]["annotations"][checksum])
    )


def test_envoy_the_pdb_and_reading_nodes_are_optional() -> None:
    rendered = template(VALUE_SETS["no-envoy-no-pdb-no-nodes"])
    kinds = {(kind, name) for kind, name, _ in objects(rendered)}
    assert not [name for _, name in kinds if "envoy" in name or "nodes" in name]
    assert ("PodDisruptionBudget", "xdscp") not in kinds
    assert ("Deployment", "xdscp") in kinds
    # Without the deployer: --no-deployer, and no write access to what it would deploy.
    assert "--no-deployer" in xdscp_container(rendered)["args"]
    (role,) = [r for r in of_kind(rendered, "ClusterRole") if r["metadata"]["name"] == "xdscp"]
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch", "patch"}, rule
        assert rule["verbs"] != ["patch"] or all(r.endswith("/status") for r in rule["resources"])
        assert not {"deployments", "configmaps", "serviceaccounts"} & set(rule["resources"]), rule


def test_the_deployer_may_apply_exactly_its_four_kinds() -> None:
    rendered = template()
    args = xdscp_container(rendered)["args"]
    assert "--proxy-xds-address=xdscp.xdscp-system.svc.cluster.local:18000" in args
    (role,) = [r for r in of_kind(rendered, "ClusterRole") if r["metadata"]["name"] == "xdscp"]
    writes = {
        (group, resource): tuple(rule["verbs"])
        for rule in role["rules"]
        if "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert writes == {
        ("", "serviceaccounts"): ("get", "create", "patch"),
        ("", "configmaps"): ("get", "create", "patch"),
        ("", "services"): ("get", "create", "patch"),
        ("apps", "deployments"): ("get", "create", "patch"),
    }


def test_replicas_resources_image_and_lease_come_from_values() -> None:
    rendered = template(VALUE_SETS["sized"])
    container = xdscp_container(rendered)
    assert objects(rendered)["Deployment", "xdscp", "xdscp-system"]["spec"]["replicas"] == 3
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert container["image"] == "ghcr.io/xdscp/xdscp:0.2.0"
    assert {"--lease-name=xdscp-edge", "--lease-duration=30"} <= set(container["args"])
    role = objects(rendered)["Role", "xdscp-leader-election", "xdscp-system"]
    assert role["rules"][1]["resourceNames"] == ["xdscp-edge"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_each_value_set_is_accepted_by_the_real_api_server(
    name: str, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    """Server-side dry run: the API server validates every object against its schema."""
    watched = [k8s_cluster.create_namespace("watched") for _ in range(2)]
    sets = [v.replace("team-a,team-b", ",".join(watched)) for v in VALUE_SETS[name]]
    # A release of its own: cluster-scoped names must not clash with the deploy/ tests'.
    rendered = template(sets, release=f"{name}-xdscp", namespace=k8s_namespace)
    applied = k8s_cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=rendered
    )
    assert applied.returncode == 0, applied.stderr
    assert len(applied.stdout.splitlines()) == len(objects(rendered))


@pytest.fixture
def installed(k8s_cluster: KubeCluster, k8s_namespace: str) -> Iterator[str]:
    """`helm install` of the chart, as a user runs it, into a fresh namespace; the release's
    name. Uninstalled afterwards (cluster-scoped RBAC would otherwise outlive the test)."""
    release = "edge"
    done = helm(
        "install",
        release,
        str(CHART),
        f"--namespace={k8s_namespace}",
        "--skip-crds",  # installed once per session by the cluster fixture
        kubeconfig=k8s_cluster.kubeconfig,
    )
    assert done.returncode == 0, done.stderr
    yield release
    helm("uninstall", release, f"--namespace={k8s_namespace}", kubeconfig=k8s_cluster.kubeconfig)


def test_helm_install_grants_status_writes_and_refuses_spec_writes(
    installed: str, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    ns, account = k8s_namespace, f"{installed}-xdscp"
    listed = helm("list", f"--namespace={ns}", "--output=json", kubeconfig=k8s_cluster.kubeconfig)
    assert [(r["name"], r["status"]) for r in yaml.safe_load(listed.stdout)] == [
        (installed, "deployed")
    ]
    apps = client.AppsV1Api(k8s_cluster.api_client())
    assert apps.read_namespaced_deployment(account, ns).spec.replicas == 2
    user = f"system:serviceaccount:{ns}:{account}"
    wait_for(
        lambda: can_i(k8s_cluster, user, "list", "services", "-A") == "yes",
        TIMEOUT,
        "the release's ClusterRoleBinding to take effect",
    )
    assert_least_privilege(k8s_cluster, user, ns, lease=account)

    # The same, as writes the API server decides on: a policy's status yes, its spec no.
    apply(k8s_cluster, policy(ns, "keepalive", {"tcpKeepalive": {"keepAliveProbes": 3}}))
    api = client.CustomObjectsApi(k8s_cluster.impersonating(ns, account))
    group = ("gateway.kgateway.dev", "v1alpha1", ns, "backendconfigpolicies", "keepalive")
    status: dict[str, Any] = {"status": {"ancestors": []}}
    api.patch_namespaced_custom_object_status(*group, status)
    with pytest.raises(client.ApiException) as refused:
        api.patch_namespaced_custom_object(*group, {"spec": {"tcpKeepalive": None}})
    assert refused.value.status == 403
    assert get_policy(k8s_cluster, ns, "keepalive")["spec"]["tcpKeepalive"] == {
        "keepAliveProbes": 3
    }
