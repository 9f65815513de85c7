"""Objects and config_dump readers the two-Gateway live tests share (files and Kubernetes):
two Gateways on one port, routes to the guide's httpbin, an internal API in another namespace
reached through a ReferenceGrant."""

from __future__ import annotations

from typing import Any

GATEWAY_API = "gateway.networking.k8s.io"
LISTENER_PORT = 8080
HOSTS = {"public": "www.example.com", "internal": "internal.example.com"}


def gateway_class(name: str, controller: str) -> dict[str, Any]:
    """A GatewayClass (cluster-scoped) for `controller`'s Gateways."""
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": controller},
    }


def gateway(namespace: str, name: str, from_: str | None = None) -> dict[str, Any]:
    """One HTTP listener on LISTENER_PORT; `from_` sets allowedRoutes (default: Same)."""
    listener: dict[str, Any] = {"name": "http", "protocol": "HTTP", "port": LISTENER_PORT}
    if from_:
        listener["allowedRoutes"] = {"namespaces": {"from": from_}}
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"gatewayClassName": "kgateway", "listeners": [listener]},
    }


def route(
    namespace: str, name: str, parent: str, parent_namespace: str, *rules: dict[str, Any]
) -> dict[str, Any]:
    """A route for HOSTS[parent] (or lost.example.com) attached to that Gateway."""
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": parent, "namespace": parent_namespace}],
            "hostnames": [HOSTS.get(parent, "lost.example.com")],
            "rules": list(rules),
        },
    }


def to_httpbin(prefix: str = "/") -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "backendRefs": [{"name": "httpbin", "port": 8000}],
    }


def to_api(namespace: str) -> dict[str, Any]:
    """/api to the internal API in `namespace`, its prefix cut off: /api/get is its /get."""
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
        "filters": [
            {
                "type": "URLRewrite",
                "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
            }
        ],
        "backendRefs": [{"name": "internal-api", "namespace": namespace, "port": 80}],
    }


def api_service(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "internal-api", "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }


def endpoints(namespace: str, service: str, address: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-lab",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
    }


def grant(namespace: str, routes_namespace: str) -> dict[str, Any]:
    """Lets HTTPRoutes of `routes_namespace` refer to the internal API in `namespace`."""
    return {
        "apiVersion": f"{GATEWAY_API}/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "routes-to-api", "namespace": namespace},
        "spec": {
            "from": [{"group": GATEWAY_API, "kind": "HTTPRoute", "namespace": routes_namespace}],
            "to": [{"group": "", "kind": "Service", "name": "internal-api"}],
        },
    }


def versions(dump: dict[str, Any]) -> dict[str, str]:
    """Each dynamic listener's and RouteConfiguration's version ("rds:" before a route's
    name), from a config_dump."""
    found = {}
    for section in dump["configs"]:
        for entry in section.get("dynamic_listeners", []):
            if "active_state" in entry:
                found[entry["name"]] = entry["active_state"]["version_info"]
        for entry in section.get("dynamic_route_configs", []):
            found["rds:" + entry["route_config"]["name"]] = entry["version_info"]
    return found


def route_config(dump: dict[str, Any], name: str) -> dict[str, Any]:
    for section in dump["configs"]:
        for entry in section.get("dynamic_route_configs", []):
            if entry["route_config"]["name"] == name:
                config: dict[str, Any] = entry["route_config"]
                return config
    return {}
