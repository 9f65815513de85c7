"""The objects that run an Envoy for one Gateway, as data: a ServiceAccount, a ConfigMap with
Envoy's bootstrap, a Deployment and a Service, each named after the Gateway, in its namespace,
owned by it. Pure: the deployer (deployer.py) applies them.

The bootstrap names the Gateway as a kgateway proxy does (node.metadata.role
`xdscp~<namespace>~<name>`), so xdscp serves it that Gateway's listeners and nothing else.
Parameters come from the ConfigMap `spec.infrastructure.parametersRef` names (see
PARAMETER_KEYS); `spec.infrastructure.labels` and `annotations` go on every object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, StringConstraints, ValidationError

from xdscp.model.base import Spec
from xdscp.model.errors import describe
from xdscp.model.problems import Problem
from xdscp.sources.kubernetes.api import JSON

DEFAULT_IMAGE = "envoyproxy/envoy:distroless-v1.40.0"
DEFAULT_XDS_ADDRESS = "xdscp.xdscp-system.svc.cluster.local:18000"
ADMIN_PORT = 19000  # 127.0.0.1 only: `kubectl port-forward deploy/<gateway> 19000` reaches it
READY_PORT = 19001  # /ready, forwarded to the admin's, for the kubelet's probes
NONROOT = 65532  # the distroless image's nonroot user
BOOTSTRAP_KEY = "envoy.yaml"
# The ConfigMap keys read as parameters; each is a string, the maps written as YAML.
PARAMETER_KEYS = ("image", "replicas", "serviceType", "resources", "labels", "annotations")
_YAML_KEYS = frozenset({"resources", "labels", "annotations"})
GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name"  # Gateway API's, on what it generates
MANAGED_BY = "app.kubernetes.io/managed-by"
# A Service port name: at most 15 of [a-z0-9-], a letter among them, no '-' at either end or twice.
_SERVICE_PORT = re.compile(r"(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?")
SECTION = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9.]+([eE][-+]?[0-9]+|[numkMGTPE]i?)?$")]


class ResourceList(Spec):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Spec):
    requests: ResourceList | None = None
    limits: ResourceList | None = None


class Parameters(Spec):
    """What a Gateway's parametersRef may set; unset, the documented defaults."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    replicas: int = Field(default=1, ge=0, le=100)
    service_type: Literal["LoadBalancer", "ClusterIP", "NodePort"] = "LoadBalancer"
    resources: Resources | None = None
    labels: dict[SECTION, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict
    )
    annotations: dict[SECTION, str] = Field(default_factory=dict)


DEFAULTS = Parameters()


def parameters(config_map: JSON, source: str) -> tuple[Parameters | None, list[Problem]]:
    """The parameters a ConfigMap holds, or None and what is wrong with it (object, field)."""
    meta = config_map.get("metadata") or {}
    where = (source, "ConfigMap", str(meta.get("namespace", "")), str(meta.get("name", "")))
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, text in (config_map.get("data") or {}).items():
        if key not in PARAMETER_KEYS:
            known = ", ".join(PARAMETER_KEYS)
            problems.append(Problem(*where, f"data.{key}", f"unknown parameter (known: {known})"))
        elif key in _YAML_KEYS:
            try:
                data[key] = yaml.safe_load(text)
            except yaml.YAMLError as err:
                problems.append(Problem(*where, f"data.{key}", f"not YAML: {err}"))
        elif key == "replicas":
            data[key] = int(text) if text.strip().isdigit() else text
        else:
            data[key] = text
    try:
        found = Parameters.model_validate(data)
    except ValidationError as err:
        problems += [Problem(*where, f"data.{path}", message) for path, message in describe(err)]
        return None, problems
    return (None, problems) if problems else (found, [])


@dataclass(frozen=True)
class DeployerConfig:
    """What every deployed proxy shares (`serve --proxy-image`, `--proxy-xds-address`)."""

    image: str = DEFAULT_IMAGE
    xds_address: str = DEFAULT_XDS_ADDRESS


def manifests(gateway: JSON, params: Parameters, config: DeployerConfig) -> list[JSON]:
    """The ServiceAccount, ConfigMap, Deployment and Service of one Gateway, in apply order."""
    meta = gateway["metadata"]
    name, namespace = str(meta["name"]), str(meta["namespace"])
    infrastructure = (gateway.get("spec") or {}).get("infrastructure") or {}
    labels = {
        **params.labels,
        **(infrastructure.get("labels") or {}),
        "app.kubernetes.io/name": name,
        MANAGED_BY: "xdscp",
        GATEWAY_LABEL: name,
    }
    annotations = {**params.annotations, **(infrastructure.get("annotations") or {})}
    owner = {
        "apiVersion": str(gateway.get("apiVersion", "gateway.networking.k8s.io/v1")),
        "kind": "Gateway",
        "name": name,
        "uid": str(meta.get("uid", "")),
        "controller": True,
    }

    def metadata() -> JSON:
        out: JSON = {"name": name, "namespace": namespace, "labels": labels}
        if annotations:
            out["annotations"] = annotations
        out["ownerReferences"] = [owner]
        return out

    ports = listener_ports(gateway)
    bootstrap_text = bootstrap(namespace, name, config.xds_address)
    selector = {"app.kubernetes.io/name": name, GATEWAY_LABEL: name}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(),
            "data": {BOOTSTRAP_KEY: bootstrap_text},
        },
        _deployment(metadata(), selector, ports, params, config, bootstrap_text),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(),
            "spec": {
                "type": params.service_type,
                "selector": selector,
                "ports": [
                    {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                    for port_name, port in ports
                ],
            },
        },
    ]


def listener_ports(gateway: JSON) -> list[tuple[str, int]]:
    """One (name, port) per distinct listener port, named after its first listener when that
    name is a valid Service port name (IANA_SVC_NAME), else `port-<number>`."""
    found: dict[int, str] = {}
    for listener in (gateway.get("spec") or {}).get("listeners") or ():
        port, listener_name = int(listener["port"]), str(listener.get("name", ""))
        found.setdefault(port, listener_name if _SERVICE_PORT.fullmatch(listener_name) else "")
    return [(n or f"port-{p}", p) for p, n in found.items()]


def _deployment(
    metadata: JSON,
    selector: JSON,
    ports: list[tuple[str, int]],
    params: Parameters,
    config: DeployerConfig,
    bootstrap_text: str,
) -> JSON:
    checksum = hashlib.sha256(bootstrap_text.encode()).hexdigest()[:16]
    container: JSON = {
        "name": "envoy",
        "image": params.image or config.image,
        "args": [
            f"--config-path=/etc/envoy/{BOOTSTRAP_KEY}",
            "--service-node=$(POD_NAME)",
            "--disable-hot-restart",  # one Envoy per container: no shared memory needed
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            *({"containerPort": port, "protocol": "TCP"} for _, port in ports),
            {"name": "readiness", "containerPort": READY_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": READY_PORT},
            "periodSeconds": 5,
        },
        "livenessProbe": {"tcpSocket": {"port": READY_PORT}, "periodSeconds": 10},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "bootstrap", "mountPath": "/etc/envoy", "readOnly": True}],
    }
    if params.resources is not None:
        container["resources"] = params.resources.model_dump(by_alias=True, exclude_none=True)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": params.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": metadata["labels"],
                    # A changed bootstrap rolls the pods.
                    "annotations": {"xdscp.dev/bootstrap": checksum},
                },
                "spec": {
                    "serviceAccountName": metadata["name"],
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NONROOT,
                        "runAsGroup": NONROOT,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        # Listeners on ports below 1024 (80, 443) without root or capabilities.
                        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                    },
                    "containers": [container],
                    "volumes": [{"name": "bootstrap", "configMap": {"name": metadata["name"]}}],
                },
            },
        },
    }


def bootstrap(namespace: str, name: str, xds_address: str) -> str:
    """Envoy's bootstrap for one Gateway's proxies: ADS from xdscp, its node naming the Gateway
    (kgateway's role convention), the admin on loopback, /ready for probes."""
    host, _, port = xds_address.rpartition(":")
    http2 = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }
    config = {
        "node": {
            "id": f"{name}-proxy",  # each pod's is its name (--service-node)
            "cluster": f"{namespace}.{name}",
            "metadata": {"role": f"xdscp~{namespace}~{name}"},
        },
        "admin": {"address": _socket("127.0.0.1", ADMIN_PORT)},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xdscp"}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "secrets": [
                {
                    "name": "SYSTEM_CA_CERT",
                    "validation_context": {
                        "trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"}
                    },
                }
            ],
            "clusters": [
                _static_cluster("xdscp", "STRICT_DNS", host, int(port), http2),
                _static_cluster("envoy_admin", "STATIC", "127.0.0.1", ADMIN_PORT),
            ],
            "listeners": [_readiness_listener()],
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def _socket(address: str, port: int) -> JSON:
    return {"socket_address": {"address": address, "port_value": port}}


def _static_cluster(
    name: str, kind: str, host: str, port: int, options: JSON | None = None
) -> JSON:
    cluster: JSON = {"name": name, "type": kind, "connect_timeout": "1s"}
    if options:
        cluster["typed_extension_protocol_options"] = options
    cluster["load_assignment"] = {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
    }
    return cluster


def _readiness_listener() -> JSON:
    manager = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    return {
        "name": "readiness",
        "address": _socket("0.0.0.0", READY_PORT),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": f"type.googleapis.com/{manager}",
                            "stat_prefix": "readiness",
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "readiness",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"path": "/ready"},
                                                "route": {"cluster": "envoy_admin"},
                                            }
                                        ],
                                    }
                                ]
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters"
                                        ".http.router.v3.Router"
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


def addresses(service: JSON) -> list[JSON]:
    """A Gateway's status.addresses from its Service: a load balancer's ingress once it has
    one; the cluster IPs of a ClusterIP or NodePort Service."""
    spec, status = service.get("spec") or {}, service.get("status") or {}
    if spec.get("type", "ClusterIP") == "LoadBalancer":
        out = []
        for ingress in (status.get("loadBalancer") or {}).get("ingress") or ():
            if ingress.get("ip"):
                out.append({"type": "IPAddress", "value": str(ingress["ip"])})
            elif ingress.get("hostname"):
                out.append({"type": "Hostname", "value": str(ingress["hostname"])})
        return out
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [{"type": "IPAddress", "value": str(ip)} for ip in ips if ip != "None"]
