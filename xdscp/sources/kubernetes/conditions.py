"""A BackendConfigPolicy's `status.ancestors`, as xdscp writes it, from findings held as data.

One entry per target (Gateway API's PolicyAncestorStatus), with the conditions of
`xdscp.status`. Pure: the status writer compares the result with what the object holds and
writes only a difference, so `lastTransitionTime` is carried over from the object whenever a
condition's status stays the same (as apimachinery's SetStatusCondition does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xdscp.model.problems import Problem
from xdscp.sources.kubernetes.api import JSON
from xdscp.status import AncestorStatus, Condition, PolicyStatus, invalid_ancestors

CONTROLLER = "xdscp.dev/controller"
MAX_ANCESTORS = 16  # the CRD's maxItems
MAX_MESSAGE = 32768  # the CRD's maxLength of a condition message

Target = tuple[str, str, str, str]  # group, kind, namespace, name
_REF_FIELDS = ("group", "kind", "namespace", "name")


def ancestors(
    policy: JSON,
    found: PolicyStatus | None,
    problems: Sequence[Problem],
    current: Sequence[JSON],
    now: str,
) -> list[JSON] | None:
    """The whole `status.ancestors` list: other controllers' entries untouched, then ours.

    `found` is what translation made of the policy's last valid version; `problems` are what
    is wrong with its current one. None when there is nothing to say yet.
    """
    ours: Sequence[AncestorStatus]
    if problems:
        ours = invalid_ancestors(_target_refs(policy), found, problems)
        generation = int((policy.get("metadata") or {}).get("generation") or 0)
    elif found is not None:
        ours, generation = found.ancestors, found.generation
    else:
        return None
    others = [a for a in current if a.get("controllerName") != CONTROLLER]
    before = {
        (_target(a.get("ancestorRef") or {}), c.get("type")): c
        for a in current
        if a.get("controllerName") == CONTROLLER
        for c in a.get("conditions") or ()
    }
    entries = [_entry(a, generation, before, now) for a in ours]
    return others + entries[: MAX_ANCESTORS - len(others)]


def _target_refs(policy: JSON) -> list[Target]:
    """The targets the stored spec names. The API server checked them against the CRD."""
    namespace = str((policy.get("metadata") or {}).get("namespace") or "")
    refs = (policy.get("spec") or {}).get("targetRefs") or ()
    return sorted(
        {
            (str(ref.get("group", "")), str(ref.get("kind", "")), namespace, str(ref["name"]))
            for ref in refs
            if isinstance(ref, dict) and ref.get("name")
        }
    )


def _entry(
    ancestor: AncestorStatus,
    generation: int,
    before: Mapping[tuple[Target, Any], JSON],
    now: str,
) -> JSON:
    target = (ancestor.group, ancestor.kind, ancestor.namespace, ancestor.name)
    return {
        "ancestorRef": dict(zip(_REF_FIELDS, target, strict=True)),
        "controllerName": CONTROLLER,
        "conditions": [
            _condition(c, generation, before.get((target, c.type)), now)
            for c in ancestor.conditions
        ],
    }


def _condition(condition: Condition, generation: int, before: JSON | None, now: str) -> JSON:
    status = "True" if condition.status else "False"
    kept = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {
        "type": condition.type,
        "status": status,
        "reason": condition.reason,
        "message": condition.message[:MAX_MESSAGE],
        "observedGeneration": generation,
        "lastTransitionTime": kept or now,
    }


def _target(ref: JSON) -> Target:
    group, kind, namespace, name = (str(ref.get(k, "")) for k in _REF_FIELDS)
    return (group, kind, namespace, name)
