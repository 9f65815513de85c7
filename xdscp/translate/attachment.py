"""Which policies apply to which target, and how several policies on one target merge.

The oldest policy (creationTimestamp, then namespace/name) wins each top-level spec field it
sets; newer policies fill the fields still unset. A block such as tcpKeepalive is taken whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from xdscp.model.backendconfigpolicy import BackendConfigPolicy, TargetRef, TargetSelector
from xdscp.model.base import KubeObject
from xdscp.model.resources import Key, Resources
from xdscp.translate.memo import Memo

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


def attach(
    resources: Resources, memo: Memo
) -> tuple[dict[Target, Attachment], dict[Key, list[Target]]]:
    """Targets found for each policy, and the merged attachment of each target found.

    An attachment made of the same policy objects as last time is the same object, so what
    was translated from it can be reused (see `memo`).
    """
    found: dict[Target, list[BackendConfigPolicy]] = defaultdict(list)
    targets_of: dict[Key, list[Target]] = {}
    for key, policy in resources.policies.items():
        targets_of[key] = (
            _targets(policy, resources)  # selectors depend on every object's labels
            if policy.spec.target_selectors
            else memo.get(("targets", key), (policy,), _targets, policy, resources)
        )
        for target in targets_of[key]:
            if _lookup(target, resources) is not None:
                found[target].append(policy)
    attachments = {
        target: memo.get(("attachment", target), tuple(policies), _merge, target, policies)
        for target, policies in found.items()
    }
    return attachments, targets_of


def _age(policy: BackendConfigPolicy) -> tuple[datetime, str, str]:
    created = policy.metadata.creation_timestamp
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (created or _NEWEST, policy.metadata.namespace, policy.metadata.name)


def _merge(target: Target, policies: list[BackendConfigPolicy]) -> Attachment:
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


def _targets(policy: BackendConfigPolicy, resources: Resources) -> list[Target]:
    namespace = policy.metadata.namespace
    refs = [_from_ref(ref, namespace) for ref in policy.spec.target_refs or ()]
    selected = [
        target
        for selector in policy.spec.target_selectors or ()
        for target in _select(selector, namespace, resources)
    ]
    return sorted(set(refs + selected))


def _from_ref(ref: TargetRef, namespace: str) -> Target:
    return Target(ref.group, ref.kind, namespace, ref.name)


def _select(selector: TargetSelector, namespace: str, resources: Resources) -> list[Target]:
    return [
        Target(selector.group, selector.kind, ns, name)
        for (ns, name), obj in _objects_of(selector.group, selector.kind, resources).items()
        if ns == namespace and selector.match_labels.items() <= obj.metadata.labels.items()
    ]


def _objects_of(group: str, kind: str, resources: Resources) -> Mapping[Key, KubeObject]:
    if (group, kind) == ("", "Service"):
        return resources.services
    if (group, kind) == ("gateway.kgateway.dev", "Backend"):
        return resources.backends
    return {}


def _lookup(target: Target, resources: Resources) -> KubeObject | None:
    return _objects_of(target.group, target.kind, resources).get((target.namespace, target.name))
