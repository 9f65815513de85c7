"""Gateways and GatewayClasses: the listeners xdscp serves, and which controller serves a
Gateway."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from xdscp.model.base import ClusterMeta, KubeObject, Lenient
from xdscp.model.gatewayapi import GROUP, ObjectName, RouteHostname, SectionName
from xdscp.model.types import Port


class RouteNamespaces(Lenient):
    from_: Literal["All", "Same", "Selector"] = Field(default="Same", alias="from")
    selector: dict[str, object] | None = None


class RouteGroupKind(Lenient):
    group: str = GROUP
    kind: str


class AllowedRoutes(Lenient):
    namespaces: RouteNamespaces = RouteNamespaces()
    kinds: tuple[RouteGroupKind, ...] = Field(default=(), max_length=8)


class Listener(Lenient):
    name: SectionName
    port: Port
    protocol: str
    hostname: RouteHostname | None = None
    allowed_routes: AllowedRoutes = AllowedRoutes()


# Gateway API's LabelKey and AnnotationValue bounds, for spec.infrastructure.
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=253)]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]
AnnotationValue = Annotated[str, StringConstraints(max_length=4096)]


class ParametersReference(Lenient):
    """Gateway API's LocalParametersReference: an object in the Gateway's namespace."""

    group: str
    kind: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    name: ObjectName


class GatewayInfrastructure(Lenient):
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=8)
    annotations: dict[LabelKey, AnnotationValue] = Field(default_factory=dict, max_length=8)
    parameters_ref: ParametersReference | None = None


class GatewaySpec(Lenient):
    gateway_class_name: str = ""
    infrastructure: GatewayInfrastructure | None = None
    listeners: tuple[Listener, ...] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _unique_listener_names(self) -> GatewaySpec:
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names):
            raise ValueError("Listener name must be unique within the Gateway")
        return self


class Gateway(KubeObject):
    GROUP = GROUP
    KIND = "Gateway"

    spec: GatewaySpec


class GatewayClassSpec(Lenient):
    # Gateway API's GatewayController: a domain-prefixed path (`xdscp.dev/controller`).
    controller_name: Annotated[
        str,
        StringConstraints(
            min_length=1,
            max_length=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
            r"\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
        ),
    ]


class GatewayClass(KubeObject):
    """Which controller serves the Gateways that name it (cluster-scoped)."""

    GROUP = GROUP
    KIND = "GatewayClass"
    NAMESPACED = False

    metadata: ClusterMeta
    spec: GatewayClassSpec
