"""Which policies apply to which target, and how several policies on one target merge.

The oldest policy (creationTimestamp, then namespace/name) wins each top-level spec field it
sets; newer policies fill the fields still unset. A block such as tcpKeepalive is taken whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from xdscp.model.backendconfigpolicy import BackendConfigPolicy, TargetSelector
from xdscp.model.base import KubeObject
from xdscp.model.resources import Key, Resources

_NEWEST = datetime.max.replace(tzinfo=UTC)


class Target(NamedTuple):
    """A Service or Backend a policy configures (a tuple: hashed and ordered at C speed)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Setting:
    field: str  # snake_case spec field
    value: Any
    policy: Key  # the policy whose value won
    overridden: tuple[Key, ...]  # newer policies that set the field too


@dataclass(frozen=True)
class Attachment:
    """The policies on one target, oldest first, and the merged settings they produce."""

    target: Target
    policies: tuple[Key, ...]
    settings: tuple[Setting, ...]


def _age(policy: BackendConfigPolicy) -> tuple[datetime, str, str]:
    created = policy.metadata.creation_timestamp
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (created or _NEWEST, policy.metadata.namespace, policy.metadata.name)


def merge(target: Target, policies: Iterable[BackendConfigPolicy]) -> Attachment:
    """The policies on `target` merged: oldest first, each field from the oldest that sets it."""
    ordered = sorted(policies, key=_age)
    settings = []
    for field in _fields_in_order(ordered):
        setters = [p.key for p in ordered if field in p.fields_set]
        value = getattr(next(p for p in ordered if p.key == setters[0]).spec, field)
        settings.append(Setting(field, value, setters[0], tuple(setters[1:])))
    return Attachment(target, tuple(p.key for p in ordered), tuple(settings))


def _fields_in_order(policies: list[BackendConfigPolicy]) -> list[str]:
    seen: dict[str, None] = {}
    for policy in policies:
        seen.update(dict.fromkeys(policy.fields_set))
    return sorted(seen, key=list(type(policies[0].spec).model_fields).index)


def referenced(policy: BackendConfigPolicy) -> frozenset[Target]:
    """What the policy's targetRefs name (found or not)."""
    namespace = policy.metadata.namespace
    return frozenset(
        Target(ref.group, ref.kind, namespace, ref.name) for ref in policy.spec.target_refs or ()
    )


def selects(policy: BackendConfigPolicy, target: Target, obj: KubeObject) -> bool:
    """Whether one of the policy's targetSelectors picks `obj` (the object `target` names)."""
    return target.namespace == policy.metadata.namespace and any(
        _picks(selector, target, obj) for selector in policy.spec.target_selectors or ()
    )


def _picks(selector: TargetSelector, target: Target, obj: KubeObject) -> bool:
    return (selector.group, selector.kind) == target[:2] and (
        selector.match_labels.items() <= obj.metadata.labels.items()
    )


SERVICE = ("", "Service")
BACKEND = ("gateway.kgateway.dev", "Backend")


def objects_of(group: str, kind: str, resources: Resources) -> Mapping[Key, KubeObject]:
    if (group, kind) == SERVICE:
        return resources.services
    if (group, kind) == BACKEND:
        return resources.backends
    return {}


def lookup(target: Target, resources: Resources) -> KubeObject | None:
    return objects_of(target.group, target.kind, resources).get((target.namespace, target.name))
