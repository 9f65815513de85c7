"""ReferenceGrants: what lets a route reach a Service in another namespace."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from xdscp.model.base import KubeObject, Lenient
from xdscp.model.gatewayapi import GROUP, ObjectName


class GrantFrom(Lenient):
    group: str
    kind: str
    namespace: ObjectName


class GrantTo(Lenient):
    group: str
    kind: str
    name: ObjectName | None = None


class ReferenceGrantSpec(Lenient):
    from_: tuple[GrantFrom, ...] = Field(alias="from", min_length=1, max_length=16)
    to: tuple[GrantTo, ...] = Field(min_length=1, max_length=16)


class ReferenceGrant(KubeObject):
    """Lets objects in other namespaces (`from`) refer to objects in this one (`to`)."""

    GROUP = GROUP
    KIND = "ReferenceGrant"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1beta1", "v1")

    spec: ReferenceGrantSpec

    def permits(
        self, group: str, kind: str, namespace: str, to_group: str, to_kind: str, name: str
    ) -> bool:
        """Whether a `kind` in `namespace` may refer to the `to_kind` `name` in this namespace."""
        return any(
            (f.group, f.kind, f.namespace) == (group, kind, namespace) for f in self.spec.from_
        ) and any(
            (t.group, t.kind) == (to_group, to_kind) and t.name in (None, name)
            for t in self.spec.to
        )
