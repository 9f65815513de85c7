"""Service and EndpointSlice: the backends a cluster is made of."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from enum import Enum
from typing import ClassVar, Literal

from pydantic import Field

from xdscp.model.base import DNS_1035_LABEL, KubeObject, Lenient

# Port names and appProtocols that mean the upstream speaks HTTP/2 (as kgateway decides it).
HTTP2_PROTOCOLS = frozenset({"http2", "grpc", "grpc-web", "kubernetes.io/h2c"})


class ServicePort(Lenient):
    name: str = ""
    port: int = Field(ge=1, le=65535)
    target_port: int | str | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None

    @property
    def speaks_http2(self) -> bool:
        protocol = self.app_protocol if self.app_protocol is not None else self.name
        return protocol.lower() in HTTP2_PROTOCOLS


class ServiceSpec(Lenient):
    ports: tuple[ServicePort, ...] = ()


class Service(KubeObject):
    GROUP = ""
    KIND = "Service"
    NAME_RULE = DNS_1035_LABEL

    spec: ServiceSpec = ServiceSpec()


class EndpointPort(Lenient):
    name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: str = "TCP"


class EndpointConditions(Lenient):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Health(Enum):
    """What an endpoint's conditions let it take: new requests, only those already begun, none."""

    READY = "ready"
    DRAINING = "draining"
    OUT = "out"


class Endpoint(Lenient):
    addresses: tuple[str, ...] = Field(min_length=1)
    conditions: EndpointConditions = EndpointConditions()
    zone: str | None = None
    node_name: str | None = None

    @property
    def ready(self) -> bool:
        # Kubernetes: an unknown readiness is to be read as ready.
        return self.conditions.ready is not False

    @property
    def health(self) -> Health:
        """Kubernetes reads an unknown ready or serving as true, an unknown terminating as false.
        A terminating pod that still serves finishes what it has (kube-proxy's graceful drain)."""
        if self.ready:
            return Health.READY
        conditions = self.conditions
        if conditions.serving is not False and conditions.terminating:
            return Health.DRAINING
        return Health.OUT


class EndpointSlice(KubeObject):
    GROUP = "discovery.k8s.io"
    KIND = "EndpointSlice"
    SERVICE_LABEL: ClassVar[str] = "kubernetes.io/service-name"

    address_type: Literal["IPv4", "IPv6", "FQDN"] = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()

    def invalid(self) -> Iterator[tuple[str, str]]:
        yield from super().invalid()
        if self.address_type == "FQDN":  # as kgateway: reported and left out
            yield "addressType", 'Unsupported value: "FQDN": xdscp serves IPv4 and IPv6 slices'
            return
        # Worded and placed as the API server places them: not an IP at all names the
        # address, an IP of the other family names the list.
        for i, endpoint in enumerate(self.endpoints):
            for j, address in enumerate(endpoint.addresses):
                try:
                    ip = ipaddress.ip_address(address)
                except ValueError:
                    yield (
                        f"endpoints[{i}].addresses[{j}]",
                        f"Invalid value: {json.dumps(address)}: must be a valid IP address",
                    )
                    continue
                if f"IPv{ip.version}" != self.address_type:
                    yield (
                        f"endpoints[{i}].addresses",
                        f"Invalid value: {json.dumps(address)}: must be an "
                        f"{self.address_type} address",
                    )

    @property
    def service_name(self) -> str | None:
        return self.metadata.labels.get(self.SERVICE_LABEL)
