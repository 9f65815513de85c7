"""GatewayClasses and the deployer against the real API server: a kgateway-style Gateway of a
class of ours gets its ServiceAccount, ConfigMap (bootstrap), Deployment and Service; a
Gateway of another controller's class is neither served nor touched; the bootstrap written,
run by a real Envoy pointed at this xdscp, gets exactly its Gateway's listeners.

No controller manager runs here: no pod starts, and the garbage collector does not delete
owned objects. The test checks the ownerReferences and performs the cascade deletion the
garbage collector would, then checks the deployer does not bring the objects back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gatewaylab import gateway_class
from tests.processes import Envoy, Xdscp, free_port
from xdscp.demo.processes import wait_for
from xdscp.gatewaystatus import CONTROLLER

from .apiserver import KubeCluster
from .kmode import TIMEOUT, apply, kubectl_ok, start_xdscp, stopping

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]

KINDS = ("serviceaccount", "configmap", "deployment", "service")


def gateway(namespace: str, name: str, class_name: str, port: int, **spec: Any) -> dict[str, Any]:
    """kgateway's sample Gateway (`http`, one HTTP listener, routes from every namespace)."""
    listener = {
        "name": "http",
        "port": port,
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"gatewayClassName": class_name, "listeners": [listener], **spec},
    }


@pytest.fixture
def cleanup(k8s_cluster: KubeCluster, k8s_namespace: str) -> Iterator[None]:
    """Deletes the test's Gateways and classes afterwards: other modules' xdscp watch every
    namespace, and an unnamed Envoy is served listeners only while there is one Gateway."""
    yield
    k8s_cluster.kubectl("delete", "gateway", "--all", "-n", k8s_namespace)
    for suffix in ("xdscp", "other"):
        k8s_cluster.kubectl(
            "delete", "gatewayclass", f"{k8s_namespace}-{suffix}", "--ignore-not-found"
        )


def get(cluster: KubeCluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    shown = cluster.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    if shown.returncode != 0:
        assert "NotFound" in shown.stderr, shown.stderr
        return None
    found: dict[str, Any] = json.loads(shown.stdout)
    return found


def wait_object(
    cluster: KubeCluster, kind: str, name: str, namespace: str, xdscp: Xdscp
) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        xdscp.check_alive()
        return get(cluster, kind, name, namespace)

    return wait_for(found, TIMEOUT, f"{kind} {namespace}/{name}")


def local_bootstrap(text: str, xds_port: int) -> dict[str, Any]:
    """The deployed bootstrap, run here: xDS at this test's xdscp; the admin and readiness
    ports (fixed in a pod) on free ones, as several tests share this machine."""
    config: dict[str, Any] = yaml.safe_load(text)
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    static = config["static_resources"]
    (xds,) = [c for c in static["clusters"] if c["name"] == "xdscp"]
    endpoint = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"].update(address="127.0.0.1", port_value=xds_port)
    (ready,) = static["listeners"]
    ready["address"]["socket_address"].update(address="127.0.0.1", port_value=free_port())
    return config


def dynamic_listeners(envoy: Envoy) -> set[str]:
    dump = envoy.config_dump()
    return {
        entry["name"]
        for config in dump["configs"]
        if config["@type"].endswith("ListenersConfigDump")
        for entry in config.get("dynamic_listeners", ())
        if "active_state" in entry
    }


def test_a_gateway_of_our_class_gets_an_envoy_and_one_of_another_class_nothing(
    k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path, cleanup: None
) -> None:
    ns, cluster = k8s_namespace, k8s_cluster
    ours, theirs = f"{ns}-xdscp", f"{ns}-other"
    port, second_port = free_port(), free_port()
    apply(
        cluster,
        gateway_class(ours, CONTROLLER),
        gateway_class(theirs, "example.com/other-controller"),
        gateway(ns, "http", ours, port),
        gateway(ns, "second", ours, second_port),
        gateway(ns, "foreign", theirs, free_port()),
    )
    xdscp = start_xdscp(cluster.kubeconfig, tmp_path, lease_namespace=ns)
    with stopping(xdscp):
        objects = {kind: wait_object(cluster, kind, "http", ns, xdscp) for kind in KINDS}
        uid = kubectl_ok(
            cluster, "get", "gateway", "http", "-n", ns, "-o", "jsonpath={.metadata.uid}"
        )
        for kind, body in objects.items():
            (owner,) = body["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
                "Gateway",
                "http",
                uid,
                True,
            ), kind
            managers = {m["manager"]: m["operation"] for m in body["metadata"]["managedFields"]}
            assert managers.get("xdscp") == "Apply", kind

        service = objects["service"]["spec"]
        assert service["type"] == "LoadBalancer"
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
            ("http", port, port)
        ]
        pod = objects["deployment"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["image"] == "envoyproxy/envoy:distroless-v1.40.0"
        assert pod["serviceAccountName"] == "http"
        assert pod["volumes"][0]["configMap"]["name"] == "http"
        text = objects["configmap"]["data"]["envoy.yaml"]
        assert yaml.safe_load(text)["node"]["metadata"]["role"] == f"xdscp~{ns}~http"

        # The class of ours is Accepted; the other controller's class and Gateway are not
        # touched, and get no proxy.
        def accepted() -> bool:
            shown = get(cluster, "gatewayclass", ours, "")
            conditions = ((shown or {}).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Accepted" and c["status"] == "True" for c in conditions)

        wait_for(accepted, TIMEOUT, f"GatewayClass {ours} Accepted")
        wait_object(cluster, "deployment", "second", ns, xdscp)
        for kind, name in (("gateway", "foreign"), ("gatewayclass", theirs)):
            shown = get(cluster, kind, name, ns)
            assert shown is not None
            writers = {m["manager"] for m in shown["metadata"]["managedFields"]}
            assert "xdscp" not in writers, (kind, writers)
        assert all(get(cluster, kind, "foreign", ns) is None for kind in KINDS)

        # The bootstrap written, run by a real Envoy: exactly its Gateway's listeners.
        envoy = Envoy(local_bootstrap(text, xdscp.xds_port), tmp_path, name="http-proxy")
        with stopping(envoy):
            wanted = {f"{ns}/http/http"}
            wait_for(lambda: dynamic_listeners(envoy) == wanted or None, TIMEOUT, str(wanted))

        # A load balancer's address becomes the Gateway's.
        ingress = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
        kubectl_ok(
            cluster,
            "patch",
            "service",
            "http",
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(ingress),
        )

        def addresses() -> list[Any] | None:
            shown = get(cluster, "gateway", "http", ns) or {}
            found = (shown.get("status") or {}).get("addresses")
            return found if found == [{"type": "IPAddress", "value": "203.0.113.7"}] else None

        wait_for(addresses, TIMEOUT, "the Gateway's status.addresses")

        # A listener's new port reaches the Service.
        moved = free_port()
        apply(cluster, gateway(ns, "http", ours, moved))

        def ports() -> list[int] | None:
            shown = get(cluster, "service", "http", ns) or {}
            found = [p["port"] for p in shown["spec"]["ports"]]
            return found if found == [moved] else None

        wait_for(ports, TIMEOUT, f"the Service on port {moved}")

        # Deleting the Gateway: the garbage collector's cascade, done here by owner uid.
        kubectl_ok(cluster, "delete", "gateway", "http", "-n", ns)
        for kind in KINDS:
            owned = get(cluster, kind, "http", ns)
            assert owned is not None and owned["metadata"]["ownerReferences"][0]["uid"] == uid
            kubectl_ok(cluster, "delete", kind, "http", "-n", ns)
        # A later pass of the deployer (the second Gateway's new port reaching its Service)
        # leaves them deleted.
        again = free_port()
        apply(cluster, gateway(ns, "second", ours, again))

        def second_moved() -> bool:
            shown = get(cluster, "service", "second", ns) or {}
            return [p["port"] for p in shown["spec"]["ports"]] == [again]

        wait_for(second_moved, TIMEOUT, "the second Gateway's Service on its new port")
        assert all(get(cluster, kind, "http", ns) is None for kind in KINDS)


def test_parameters_from_a_configmap_and_a_bad_one_named_by_field(
    k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path, cleanup: None
) -> None:
    ns, cluster = k8s_namespace, k8s_cluster
    ours = f"{ns}-xdscp"
    ref = {"infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": "proxy"}}}
    params = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "proxy", "namespace": ns},
        "data": {
            "image": "registry.example/envoy:v1.40.0",
            "replicas": "2",
            "serviceType": "ClusterIP",
            "resources": "requests: {cpu: 50m, memory: 64Mi}",
            "labels": "team: edge",
        },
    }
    bad = {
        **params,
        "metadata": {"name": "bad", "namespace": ns},
        "data": {"replicas": "many"},
    }
    bad_ref = {
        "infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": "bad"}}
    }
    apply(
        cluster,
        gateway_class(ours, CONTROLLER),
        params,
        bad,
        gateway(ns, "tuned", ours, free_port(), **ref),
        gateway(ns, "typo", ours, free_port(), **bad_ref),
    )
    xdscp = start_xdscp(cluster.kubeconfig, tmp_path, lease_namespace=ns)
    with stopping(xdscp):
        deployment = wait_object(cluster, "deployment", "tuned", ns, xdscp)
        assert deployment["spec"]["replicas"] == 2
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "registry.example/envoy:v1.40.0"
        assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}}
        assert deployment["metadata"]["labels"]["team"] == "edge"
        service = wait_object(cluster, "service", "tuned", ns, xdscp)
        assert service["spec"]["type"] == "ClusterIP"

        def addresses() -> list[Any] | None:
            shown = get(cluster, "gateway", "tuned", ns) or {}
            return (shown.get("status") or {}).get("addresses") or None

        found = wait_for(addresses, TIMEOUT, "the Gateway's status.addresses")
        assert found == [{"type": "IPAddress", "value": service["spec"]["clusterIP"]}]

        # A bad ConfigMap: named by object and field; the Gateway still gets an Envoy (defaults).
        typo = wait_object(cluster, "deployment", "typo", ns, xdscp)
        assert typo["spec"]["replicas"] == 1
        wanted = f"ConfigMap {ns}/bad: data.replicas"
        wait_for(lambda: wanted in xdscp.log_path.read_text() or None, TIMEOUT, wanted)
