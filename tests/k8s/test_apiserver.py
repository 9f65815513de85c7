"""What a real kube-apiserver does with our CRDs, and the fixture's fault helpers.

Each test checks what a user would see: kubectl's output and the API server's answers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, watch

from .apiserver import KubeCluster, pinned_versions

pytestmark = pytest.mark.apiserver

GROUP, VERSION, PLURAL = "gateway.kgateway.dev", "v1alpha1", "backendconfigpolicies"

# The user guide's example, with its namespace replaced by the test's own.
GUIDE_MANIFEST = """\
kind: BackendConfigPolicy
apiVersion: gateway.kgateway.dev/v1alpha1
metadata:
  name: httpbin-keepalive
  namespace: {namespace}
spec:
  targetRefs:
  - name: httpbin
    group: ""
    kind: Service
  tcpKeepalive:
    keepAliveProbes: {probes}
    keepAliveTime: 30s
    {interval_field}: 5s
"""


def guide_manifest(
    namespace: str, *, probes: int = 3, interval_field: str = "keepAliveInterval"
) -> str:
    return GUIDE_MANIFEST.format(namespace=namespace, probes=probes, interval_field=interval_field)


def policy(name: str, probes: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": name},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "httpbin"}],
            "tcpKeepalive": {"keepAliveProbes": probes},
        },
    }


def list_policies(api_client: client.ApiClient, namespace: str) -> list[str]:
    api = client.CustomObjectsApi(api_client)
    listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return [item["metadata"]["name"] for item in listed["items"]]


def status_message(error: client.ApiException) -> str:
    """The message of the Status object the API server sent with an error."""
    message: str = json.loads(error.body)["message"]
    return message


def test_server_and_kubectl_are_the_pinned_release(k8s_cluster: KubeCluster) -> None:
    want = pinned_versions()["K8S_VERSION"]
    server = client.VersionApi(k8s_cluster.api_client()).get_code()
    kubectl = k8s_cluster.kubectl("version", "--client", "--output=yaml")
    print(f"fixture start-up: {k8s_cluster.startup_seconds:.1f} s")

    assert server.git_version == want
    assert kubectl.returncode == 0, kubectl.stderr
    assert yaml.safe_load(kubectl.stdout)["clientVersion"]["gitVersion"] == want


def test_guide_manifest_is_stored_and_shown_back(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    manifest = guide_manifest(k8s_namespace)

    applied = k8s_cluster.kubectl("apply", "-f", "-", input=manifest)
    shown = k8s_cluster.kubectl(
        "get", "backendconfigpolicy", "-n", k8s_namespace, "httpbin-keepalive", "-o", "yaml"
    )

    assert applied.returncode == 0, applied.stderr
    assert (
        applied.stdout.strip()
        == "backendconfigpolicy.gateway.kgateway.dev/httpbin-keepalive created"
    )
    assert shown.returncode == 0, shown.stderr
    stored = yaml.safe_load(shown.stdout)
    assert stored["metadata"]["namespace"] == k8s_namespace
    assert stored["spec"] == yaml.safe_load(manifest)["spec"]


def test_crd_rule_violation_is_refused_naming_the_field(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    refused = k8s_cluster.kubectl(
        "apply", "-f", "-", input=guide_manifest(k8s_namespace, probes=-1)
    )

    assert refused.returncode != 0
    assert 'The BackendConfigPolicy "httpbin-keepalive" is invalid' in refused.stderr
    assert "spec.tcpKeepalive.keepAliveProbes: Invalid value: -1" in refused.stderr
    assert "should be greater than or equal to 0" in refused.stderr
    assert list_policies(k8s_cluster.api_client(), k8s_namespace) == []


def test_unknown_field_is_refused_naming_the_field(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    # kubectl asks for strict field validation; without it the server would drop the field.
    manifest = guide_manifest(k8s_namespace, interval_field="keepAliveIntervall")

    refused = k8s_cluster.kubectl("apply", "-f", "-", input=manifest)

    assert refused.returncode != 0
    assert (
        'strict decoding error: unknown field "spec.tcpKeepalive.keepAliveIntervall"'
        in refused.stderr
    )
    assert list_policies(k8s_cluster.api_client(), k8s_namespace) == []


def test_python_client_refuses_unknown_field_only_when_strict(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    api = client.CustomObjectsApi(k8s_cluster.api_client())
    body = policy("typo")
    body["spec"]["tcpKeepalive"]["keepAliveProbez"] = 3

    with pytest.raises(client.ApiException) as refused:
        api.create_namespaced_custom_object(
            GROUP, VERSION, k8s_namespace, PLURAL, body, field_validation="Strict"
        )
    lenient = api.create_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL, body)

    assert refused.value.status == 400
    assert 'unknown field "spec.tcpKeepalive.keepAliveProbez"' in status_message(refused.value)
    # The default (Warn) stores the object without the field: a typo is silently lost.
    assert lenient["spec"]["tcpKeepalive"] == {"keepAliveProbes": 3}


def test_watch_with_bookmarks_sees_a_bookmark(k8s_cluster: KubeCluster, k8s_namespace: str) -> None:
    api = client.CustomObjectsApi(k8s_cluster.api_client())
    api.create_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL, policy("p"))

    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            k8s_namespace,
            PLURAL,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        )
    )

    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    added, bookmark = events
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(
        added["object"]["metadata"]["resourceVersion"]
    )


def test_watch_from_expired_resource_version_gets_410_gone(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    api = client.CustomObjectsApi(k8s_cluster.api_client())
    api.create_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL, policy("p"))
    old = api.list_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL)
    old_rv = old["metadata"]["resourceVersion"]

    k8s_cluster.expire_resource_versions()

    with pytest.raises(client.ApiException) as gone:
        for _ in watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            k8s_namespace,
            PLURAL,
            resource_version=old_rv,
            timeout_seconds=5,
        ):
            pass
    assert gone.value.status == 410
    # The data survived the restart; a watch from a fresh list's resourceVersion works.
    fresh = api.list_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL)
    assert [i["metadata"]["name"] for i in fresh["items"]] == ["p"]
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        k8s_namespace,
        PLURAL,
        "p",
        {"spec": {"tcpKeepalive": {"keepAliveProbes": 4}}},
    )
    events = watch.Watch().stream(
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        k8s_namespace,
        PLURAL,
        resource_version=fresh["metadata"]["resourceVersion"],
        timeout_seconds=5,
    )
    first = next(iter(events))
    assert first["type"] == "MODIFIED"
    assert first["object"]["spec"]["tcpKeepalive"]["keepAliveProbes"] == 4


def test_service_account_needs_a_role_to_list_policies(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    admin = k8s_cluster.api_client()
    client.CoreV1Api(admin).create_namespaced_service_account(
        k8s_namespace, {"metadata": {"name": "xdscp"}}
    )
    as_sa = k8s_cluster.impersonating(k8s_namespace, "xdscp")

    with pytest.raises(client.ApiException) as denied:
        list_policies(as_sa, k8s_namespace)
    assert denied.value.status == 403
    assert (
        f'User "system:serviceaccount:{k8s_namespace}:xdscp" cannot list resource '
        f'"{PLURAL}" in API group "{GROUP}"'
    ) in status_message(denied.value)

    grant_list_policies(admin, k8s_namespace, "xdscp")

    assert eventually(lambda: list_policies(as_sa, k8s_namespace)) == []
    can_i = k8s_cluster.kubectl(
        "auth",
        "can-i",
        "list",
        f"{PLURAL}.{GROUP}",
        "-n",
        k8s_namespace,
        f"--as=system:serviceaccount:{k8s_namespace}:xdscp",
    )
    assert can_i.stdout.strip() == "yes"


def grant_list_policies(admin: client.ApiClient, namespace: str, service_account: str) -> None:
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "policy-reader"},
            "rules": [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["list", "watch"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "policy-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "policy-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
            ],
        },
    )


def eventually(call: Any, timeout: float = 10.0) -> Any:
    """Retries `call` while the API server answers 403: RBAC changes reach its
    authorizer through an informer, a few milliseconds after the write."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except client.ApiException as error:
            if error.status != 403 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_gateway_api_httproute_is_accepted(k8s_cluster: KubeCluster, k8s_namespace: str) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "httpbin", "namespace": k8s_namespace},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "httpbin", "port": 8000}]}],
        },
    }

    created = k8s_cluster.kubectl("create", "-f", "-", "-o", "yaml", input=yaml.safe_dump(route))

    assert created.returncode == 0, created.stderr
    stored = yaml.safe_load(created.stdout)
    # The CRD's schema defaults were applied: proof the real Gateway API CRD is installed.
    assert stored["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_apiserver_outage_and_recovery_keep_the_data(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    api = client.CustomObjectsApi(k8s_cluster.api_client())
    api.create_namespaced_custom_object(GROUP, VERSION, k8s_namespace, PLURAL, policy("p"))

    k8s_cluster.stop_apiserver()
    try:
        # urllib3 retries a refused connection a few times, then gives up.
        with pytest.raises(urllib3.exceptions.MaxRetryError):
            list_policies(k8s_cluster.api_client(), k8s_namespace)
    finally:
        k8s_cluster.start_apiserver()

    assert list_policies(k8s_cluster.api_client(), k8s_namespace) == ["p"]
