"""Which targets each policy names, and which policies name each target, kept up to date from
one view to the next by looking only at what changed.

A targetSelector picks objects by labels in its policy's namespace: a new or changed selector
is evaluated over that namespace's Services or Backends (indexed by namespace), and a changed
Service or Backend is matched against the selectors of its namespace only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from immutables import Map, MapMutation

from xdscp.model.backendconfigpolicy import BackendConfigPolicy
from xdscp.model.resources import Key, ObjectKey, Resources
from xdscp.translate.attachment import BACKEND, SERVICE, Target, lookup, referenced, selects
from xdscp.translate.multimap import relink

_TARGET_KINDS = {SERVICE[1]: SERVICE, BACKEND[1]: BACKEND}
_POLICY = BackendConfigPolicy.KIND
Members = Map[str, None]  # the names of one kind in one namespace


@dataclass(frozen=True)
class Touched:
    """What an update of the index found changed."""

    targets: set[Target] = field(default_factory=set)  # policies or existence changed
    policies: set[Key] = field(default_factory=set)  # object or targets changed


@dataclass(frozen=True)
class PolicyIndex:
    targets_of: Map[Key, tuple[Target, ...]] = field(
        default_factory=Map
    )  # policy -> its targets, sorted
    policies_on: Map[Target, frozenset[Key]] = field(
        default_factory=Map
    )  # target -> the policies naming it
    selecting: Map[str, frozenset[Key]] = field(
        default_factory=Map
    )  # namespace -> its policies with selectors
    members: Map[tuple[str, str, str], Members] = field(
        default_factory=Map
    )  # (group, kind, namespace) -> names

    def update(
        self, new: Resources, old: Resources, changes: Iterable[ObjectKey]
    ) -> tuple[PolicyIndex, Touched]:
        """The index of `new`, given this one is `old`'s and `changes` what differs."""
        step = _Update(self)
        policies: list[Key] = []
        targets: list[Target] = []
        for kind, namespace, name in changes:
            if kind == _POLICY:
                policies.append((namespace, name))
            elif kind in _TARGET_KINDS:
                target = Target(*_TARGET_KINDS[kind], namespace, name)
                step.member(target, lookup(target, new) is not None)
                targets.append(target)
        step.finish_members()
        for key in policies:
            step.policy(key, old.policies.get(key), new.policies.get(key), new)
        changed = frozenset(policies)
        for target in targets:
            step.target(target, new, changed)
        return step.finish(), step.touched


class _Update:
    def __init__(self, index: PolicyIndex) -> None:
        self.index = index
        self.targets_of: MapMutation[Key, tuple[Target, ...]] = index.targets_of.mutate()
        self.policies_on: MapMutation[Target, frozenset[Key]] = index.policies_on.mutate()
        self.selecting: MapMutation[str, frozenset[Key]] = index.selecting.mutate()
        self.members: Map[tuple[str, str, str], Members] = index.members
        self._members: dict[tuple[str, str, str], MapMutation[str, None]] = {}
        self.touched = Touched()

    def member(self, target: Target, present: bool) -> None:
        where = (target.group, target.kind, target.namespace)
        names = self._members.get(where)
        if names is None:
            names = self._members[where] = self.members.get(where, Map()).mutate()
        if present:
            names[target.name] = None
        else:
            names.pop(target.name, None)

    def finish_members(self) -> None:
        members = self.members.mutate()
        for where, names in self._members.items():
            finished = names.finish()
            if finished:
                members[where] = finished
            else:
                members.pop(where, None)
        self.members = members.finish()

    def policy(
        self,
        key: Key,
        before: BackendConfigPolicy | None,
        after: BackendConfigPolicy | None,
        new: Resources,
    ) -> None:
        if before is not None and before.spec.target_selectors:
            relink(self.selecting, key[0], key, False)
        was = self.targets_of.get(key, ())
        now = self._targets(after, new) if after is not None else ()
        if after is not None:
            self.targets_of[key] = now
            if after.spec.target_selectors:
                relink(self.selecting, key[0], key, True)
        else:
            self.targets_of.pop(key, None)
        for target in set(was).difference(now) if was else ():
            relink(self.policies_on, target, key, False)
        for target in set(now).difference(was) if was else now:
            relink(self.policies_on, target, key, True)
        self.touched.targets.update(was, now)  # a changed policy merges anew on each
        self.touched.policies.add(key)

    def target(self, target: Target, new: Resources, changed: frozenset[Key]) -> None:
        """A Service or Backend added, changed or removed: the selectors of its namespace that
        pick it now, or picked it before, are told."""
        self.touched.targets.add(target)
        obj = lookup(target, new)
        for key in self.selecting.get(target.namespace, ()):
            if key in changed:
                continue  # evaluated afresh already
            policy = new.policies[key]
            targets = self.targets_of[key]
            at = bisect_left(targets, target)
            has = at < len(targets) and targets[at] == target
            wants = (obj is not None and selects(policy, target, obj)) or (
                target in referenced(policy)
            )
            if has == wants:
                continue
            if wants:
                self.targets_of[key] = (*targets[:at], target, *targets[at:])
            else:
                self.targets_of[key] = (*targets[:at], *targets[at + 1 :])
            relink(self.policies_on, target, key, wants)
            self.touched.policies.add(key)

    def finish(self) -> PolicyIndex:
        return PolicyIndex(
            self.targets_of.finish(),
            self.policies_on.finish(),
            self.selecting.finish(),
            self.members,
        )

    def _targets(self, policy: BackendConfigPolicy, resources: Resources) -> tuple[Target, ...]:
        """What the policy names, and what its selectors pick of its namespace's objects."""
        if not policy.spec.target_selectors:
            return tuple(sorted(referenced(policy)))
        namespace = policy.metadata.namespace
        kinds = {(s.group, s.kind) for s in policy.spec.target_selectors or ()}
        candidates = (
            Target(group, kind, namespace, name)
            for group, kind in kinds
            for name in self.members.get((group, kind, namespace), ())
        )
        selected = {
            target
            for target in candidates
            if (obj := lookup(target, resources)) is not None and selects(policy, target, obj)
        }
        return tuple(sorted(referenced(policy) | selected))
