"""The benchmark fleet: N Services, each with an EndpointSlice and a keepalive policy.

One Gateway routes to the first Service. The Go peer builds the very same Envoy resources from
the same parameters (bench/peers/go-control-plane/resources.go); a hash check proves it.
`generation[i]` is how often policy i was changed: its keepAliveTime is 30 s + generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from xdscp.model.base import KubeObject
from xdscp.model.load import Document, load
from xdscp.model.resources import ObjectKey, Resources

NAMESPACE = "bench"
PORT = 8080
HOST = "bench.example.com"
KEEPALIVE_TIME = 30
Doc = dict[str, Any]


def service_name(i: int) -> str:
    return f"svc-{i:05d}"


def cluster_name(i: int) -> str:
    return f"kube_{NAMESPACE}_{service_name(i)}_{PORT}"


def endpoint_address(i: int) -> str:
    """A loopback address per Service: nothing outside this machine is ever named."""
    return f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"  # as before below 62,500


def service_docs(i: int, generation: int = 0) -> list[Doc]:
    name = service_name(i)
    meta = {"name": name, "namespace": NAMESPACE}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {**meta, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [endpoint_address(i)], "conditions": {"ready": True}}],
        },
        policy_doc(i, generation),
    ]


def policy_doc(i: int, generation: int = 0) -> Doc:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": f"{service_name(i)}-keepalive", "namespace": NAMESPACE},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service_name(i)}],
            "tcpKeepalive": {
                "keepAliveProbes": 3,
                "keepAliveTime": f"{KEEPALIVE_TIME + generation}s",
                "keepAliveInterval": "5s",
            },
        },
    }


def gateway_docs(listener_port: int) -> list[Doc]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "bench", "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": "kgateway",
                "listeners": [{"name": "http", "protocol": "HTTP", "port": listener_port}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "bench", "namespace": NAMESPACE},
            "spec": {
                "parentRefs": [{"name": "bench"}],
                "hostnames": [HOST],
                "rules": [{"backendRefs": [{"name": service_name(0), "port": PORT}]}],
            },
        },
    ]


def documents(n: int, listener_port: int, generation: Mapping[int, int]) -> Iterator[Doc]:
    yield from gateway_docs(listener_port)
    for i in range(n):
        yield from service_docs(i, generation.get(i, 0))


class Model:
    """The fleet as xdscp's validated objects, through xdscp's own loader; policies change."""

    def __init__(self, n: int, listener_port: int) -> None:
        self.n = n
        self.generation: dict[int, int] = {}
        self.objects = _load(documents(n, listener_port, {}), {})
        self._resources: Resources | None = None

    def resources(self) -> Resources:
        if self._resources is None:
            self._resources = Resources.of(self.objects.values())
        return self._resources

    def change(self, i: int) -> None:
        """Policy i gets a new keepAliveTime, as if its file were saved: the view changes as
        the file source changes it (that policy replaced in place)."""
        self.generation[i] = self.generation.get(i, 0) + 1
        changed = _load([policy_doc(i, self.generation[i])], self.objects)
        self.objects.update(changed)
        self._resources = self.resources().replacing(changed.values())


def _load(
    docs: Iterable[Doc], previous: dict[ObjectKey, KubeObject]
) -> dict[ObjectKey, KubeObject]:
    loaded = load((Document("bench", d) for d in docs), previous)
    assert not loaded.problems, loaded.problems[:3]
    return loaded.objects


def write(directory: Path, n: int, listener_port: int) -> None:
    """The fleet and its Gateway, as a GitOps tree would hold them."""
    write_services(directory, n)
    (directory / "gateway.yaml").write_text(yaml.safe_dump_all(gateway_docs(listener_port)))


def write_services(directory: Path, n: int) -> None:
    """One file per Service (Service, EndpointSlice, policy)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        service_file(directory, i).write_text(yaml.safe_dump_all(service_docs(i)))


def service_file(directory: Path, i: int) -> Path:
    return directory / f"{service_name(i)}.yaml"


def save_policy(directory: Path, i: int, generation: int) -> None:
    """Save Service i's file with a changed policy: written beside, then renamed over."""
    target = service_file(directory, i)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(yaml.safe_dump_all(service_docs(i, generation)))
    temporary.rename(target)
