"""The validated input of one translation: every object, by kind, keyed by (namespace, name).

A view made from another by `replacing` knows what differs from it (and from the few views
before that, while they are alive), so a consumer holding an older view learns what changed in
O(change) instead of comparing every object (`changes_since`).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
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
ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
T = TypeVar("T", bound=KubeObject)
# How many earlier views a view remembers its changes from: a consumer that skipped a few
# views (updates coalesced while it was busy) still gets its changes without a comparison.
ANCESTORS = 8


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
    origins: Mapping[ObjectKey, str] = field(default_factory=dict)
    # (an earlier view, the objects added, changed or removed since it), newest first; weak, so
    # a view keeps no other alive.
    _ancestry: tuple[tuple[weakref.ref[Resources], frozenset[ObjectKey]], ...] = field(
        default=(), compare=False, repr=False
    )

    def origin(self, obj: KubeObject, default: str) -> str:
        return self.origins.get((obj.KIND, *obj.key), default)

    def replacing(
        self,
        objects: Iterable[KubeObject],
        removed: Iterable[ObjectKey] = (),
        origins: Mapping[ObjectKey, str] | None = None,
    ) -> Resources:
        """This view with `objects` added or in place of the objects of their kind and key,
        and the `removed` keys gone (`origins`: the new origins, when they changed). A table's
        order is kept and new keys go last: one change costs a copy of its kind's table (a C
        loop), not a sort of every object."""
        tables: dict[str, dict[Key, KubeObject]] = {}
        changed: set[ObjectKey] = set()

        def table_of(kind: str) -> dict[Key, KubeObject]:
            name = _BY_KIND[kind]
            table = tables.get(name)
            if table is None:
                table = tables[name] = dict(getattr(self, name))
            return table

        for obj in objects:
            table_of(obj.KIND)[obj.key] = obj
            changed.add((obj.KIND, *obj.key))
        for kind, namespace, name in removed:
            if table_of(kind).pop((namespace, name), None) is not None:
                changed.add((kind, namespace, name))
        keys = frozenset(changed)
        older = ((ref, since | keys) for ref, since in self._ancestry[: ANCESTORS - 1])
        ancestry = ((weakref.ref(self), keys), *older)
        return dataclasses.replace(
            self,
            **tables,  # type: ignore[arg-type]
            origins=self.origins if origins is None else origins,
            _ancestry=ancestry,
        )

    def tables(self) -> Iterator[tuple[str, Mapping[Key, KubeObject]]]:
        """Each kind's table, by kind name."""
        for kind, name in _BY_KIND.items():
            yield kind, getattr(self, name)

    def changes_since(self, older: Resources) -> frozenset[ObjectKey]:
        """The objects (kind, namespace, name) added, changed or removed from `older` to this
        view: remembered when this view was made from `older` by `replacing` (at most
        ANCESTORS views back), else found by comparing the tables that are not the same."""
        if older is self:
            return frozenset()
        for ref, keys in self._ancestry:
            if ref() is older:
                return keys
        return self.compare(older)

    def compare(self, older: Resources) -> frozenset[ObjectKey]:
        """What `changes_since` gives, by comparing every table that is another one (O(N))."""
        found: set[ObjectKey] = set()
        for (kind, new), (_, old) in zip(self.tables(), older.tables(), strict=True):
            if old is new:
                continue
            found.update((kind, *k) for k, o in new.items() if old.get(k) is not o)
            found.update((kind, *k) for k in old.keys() - new.keys())
        return frozenset(found)

    @classmethod
    def of(cls, objects: Iterable[KubeObject], origins: Mapping[ObjectKey, str] = {}) -> Resources:
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
_FIELDS: dict[type[KubeObject], str] = {
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
_BY_KIND: dict[str, str] = {kind.KIND: name for kind, name in _FIELDS.items()}
