"""Policy status as data: what each policy did to each target, and which policy set what.

Shaped like Gateway API PolicyStatus (ancestors with Accepted and Attached conditions), so the
Kubernetes source can write it back as is and file mode can print and serve the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from xdscp.model.problems import Problem, status_message

POLICY_KIND = "BackendConfigPolicy"


class Accepted(StrEnum):
    VALID = "Valid"
    INVALID = "Invalid"
    TARGET_NOT_FOUND = "TargetNotFound"
    PARTIALLY_VALID = "PartiallyValid"


class Attached(StrEnum):
    ATTACHED = "Attached"  # everything it sets applies, and it alone configures the target
    MERGED = "Merged"  # some of its fields apply, beside fields of other policies
    OVERRIDDEN = "Overridden"  # older policies set every field it sets
    PENDING = "Pending"  # not attached: invalid, or no such target


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class AncestorStatus:
    """One target of one policy (an "ancestor" in Gateway API's words)."""

    group: str
    kind: str
    namespace: str
    name: str
    accepted: Accepted
    accepted_message: str
    attached: Attached
    attached_message: str

    @property
    def conditions(self) -> tuple[Condition, Condition]:
        return (
            Condition(
                "Accepted",
                self.accepted in (Accepted.VALID, Accepted.PARTIALLY_VALID),
                self.accepted.value,
                self.accepted_message,
            ),
            Condition(
                "Attached",
                self.attached is not Attached.PENDING,
                self.attached.value,
                self.attached_message,
            ),
        )


@dataclass(frozen=True)
class PolicyStatus:
    namespace: str
    name: str
    generation: int
    ancestors: tuple[AncestorStatus, ...]


@dataclass(frozen=True)
class FieldOrigin:
    """Which policy set a cluster field (provenance), as `xdscp render --explain` shows it."""

    cluster: str
    field: str  # the policy's spec field, e.g. tcpKeepalive
    policy: str  # namespace/name
    overridden: tuple[str, ...] = ()  # newer policies that set it too


Target = tuple[str, str, str, str]  # group, kind, namespace, name


def invalid_ancestors(
    targets: Sequence[Target], found: PolicyStatus | None, problems: Sequence[Problem]
) -> list[AncestorStatus]:
    """An invalid policy's status: not accepted, with every validation message, on each target
    it names (else each its last valid version had). Where that version still configures a
    target, Attached says so: it keeps applying. Kubernetes and file mode say the same."""
    message = status_message(problems)
    kept = {(a.group, a.kind, a.namespace, a.name): a for a in (found.ancestors if found else ())}
    statuses = []
    for target in targets or list(kept):
        good = kept.get(target)
        attached: Attached
        if found is not None and good is not None and good.attached is not Attached.PENDING:
            attached = good.attached
            version = (
                f"generation {found.generation}" if found.generation else "its last valid version"
            )
            attached_message = f"{version} still applies: {good.attached_message}"
        else:
            attached, attached_message = Attached.PENDING, "not attached: the policy is invalid"
        statuses.append(
            AncestorStatus(*target, Accepted.INVALID, message, attached, attached_message)
        )
    return statuses


def with_problems(
    statuses: Mapping[tuple[str, str], PolicyStatus], problems: Sequence[Problem]
) -> list[PolicyStatus]:
    """File mode's statuses as Kubernetes mode writes them, by policy: a policy whose current
    version is invalid is Invalid on the targets its last valid version has (a policy that was
    never valid has no status, only its problems)."""
    errors: dict[tuple[str, str], list[Problem]] = defaultdict(list)
    for problem in problems:
        if problem.kind == POLICY_KIND and not problem.warning:
            errors[(problem.namespace, problem.name)].append(problem)
    return [
        replace(s, ancestors=tuple(invalid_ancestors((), s, errors[key])))
        if (key := (s.namespace, s.name)) in errors
        else s
        for s in (statuses[k] for k in sorted(statuses))
    ]
