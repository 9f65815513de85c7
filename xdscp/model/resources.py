"""The validated input of one translation: every object, by kind, keyed by (namespace, name)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from xdscp.model.backendconfigpolicy import Backend, BackendConfigPolicy
from xdscp.model.base import KubeObject
from xdscp.model.gateway import Gateway, GatewayClass
from xdscp.model.httproute import HTTPRoute
from xdscp.model.node import Node
from xdscp.model.referencegrant import ReferenceGrant
from xdscp.model.secret import Secret
from xdscp.model.service import EndpointSlice, Service

Key = tuple[str, str]
T = TypeVar("T", bound=KubeObject)


def _by_key(grouped: Mapping[type, list[KubeObject]], kind: type[T]) -> dict[Key, T]:
    found: list[T] = grouped.get(kind, [])  # type: ignore[assignment]
    return dict(sorted(((o.metadata.namespace, o.metadata.name), o) for o in found))


@dataclass(frozen=True)
class Resources:
    services: Mapping[Key, Service] = field(default_factory=dict)
    endpoint_slices: Mapping[Key, EndpointSlice] = field(default_factory=dict)
    gateway_classes: Mapping[Key, GatewayClass] = field(default_factory=dict)  # ("", name)
    gateways: Mapping[Key, Gateway] = field(default_factory=dict)
    http_routes: Mapping[Key, HTTPRoute] = field(default_factory=dict)
    reference_grants: Mapping[Key, ReferenceGrant] = field(default_factory=dict)
    policies: Mapping[Key, BackendConfigPolicy] = field(default_factory=dict)
    backends: Mapping[Key, Backend] = field(default_factory=dict)
    nodes: Mapping[Key, Node] = field(default_factory=dict)  # cluster-scoped: ("", name)
    secrets: Mapping[Key, Secret] = field(default_factory=dict)
    # Where each object came from (kind, namespace, name) -> file, for messages about it.
    origins: Mapping[tuple[str, str, str], str] = field(default_factory=dict)

    def origin(self, obj: KubeObject, default: str) -> str:
        return self.origins.get((obj.KIND, *obj.key), default)

    def replacing(self, objects: Iterable[KubeObject]) -> Resources | None:
        """This view with `objects` in place of the objects of their kind and key, or None if
        one is not here already. The order stays as it is: one change costs a copy of its
        kind's table (a C loop), not a sort of every object."""
        tables: dict[str, dict[Key, KubeObject]] = {}
        for obj in objects:
            name = _FIELDS.get(type(obj))
            if name is None or obj.key not in getattr(self, name):
                return None
            table = tables.get(name)
            if table is None:
                table = tables[name] = dict(getattr(self, name))
            table[obj.key] = obj
        return dataclasses.replace(self, **tables)  # type: ignore[arg-type]

    @classmethod
    def of(
        cls, objects: Iterable[KubeObject], origins: Mapping[tuple[str, str, str], str] = {}
    ) -> Resources:
        grouped: dict[type, list[KubeObject]] = defaultdict(list)
        for obj in objects:  # one pass, by exact class: the kinds have no subclasses
            grouped[type(obj)].append(obj)
        return cls(
            origins=origins,
            services=_by_key(grouped, Service),
            endpoint_slices=_by_key(grouped, EndpointSlice),
            gateway_classes=_by_key(grouped, GatewayClass),
            gateways=_by_key(grouped, Gateway),
            http_routes=_by_key(grouped, HTTPRoute),
            reference_grants=_by_key(grouped, ReferenceGrant),
            policies=_by_key(grouped, BackendConfigPolicy),
            backends=_by_key(grouped, Backend),
            nodes=_by_key(grouped, Node),
            secrets=_by_key(grouped, Secret),
        )


# Each kind's table.
_FIELDS: dict[type, str] = {
    Service: "services",
    EndpointSlice: "endpoint_slices",
    GatewayClass: "gateway_classes",
    Gateway: "gateways",
    HTTPRoute: "http_routes",
    ReferenceGrant: "reference_grants",
    BackendConfigPolicy: "policies",
    Backend: "backends",
    Node: "nodes",
    Secret: "secrets",
}
