"""Policy status as data: what each policy did to each target, and which policy set what.

Shaped like Gateway API PolicyStatus (ancestors with Accepted and Attached conditions), so the
Kubernetes source can write it back as is and file mode can print and serve the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
