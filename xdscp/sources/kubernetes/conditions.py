"""Status as xdscp writes it, from findings held as data: a BackendConfigPolicy's
`status.ancestors`, a Gateway's conditions and listeners, an HTTPRoute's `status.parents`.

A policy has one entry per target (Gateway API's PolicyAncestorStatus), with the conditions of
`xdscp.status`. Pure: the status writer compares the result with what the object holds and
writes only a difference, so `lastTransitionTime` is carried over from the object whenever a
condition's status stays the same (as apimachinery's SetStatusCondition does).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from xdscp.gatewaystatus import CONTROLLER, ClassStatus, GatewayStatus, ParentStatus, RouteStatus
from xdscp.model.problems import Problem, status_message
from xdscp.sources.kubernetes.api import JSON
from xdscp.status import AncestorStatus, Condition, PolicyStatus, invalid_ancestors

MAX_ANCESTORS = 16  # the CRD's maxItems
MAX_MESSAGE = 32768  # the CRD's maxLength of a condition message
MAX_LISTENERS = 64  # Gateway API's maxItems of status.listeners
MAX_PARENTS = 32  # and of an HTTPRoute's status.parents
GATEWAY_GROUP = "gateway.networking.k8s.io"

Target = tuple[str, str, str, str]  # group, kind, namespace, name
_REF_FIELDS = ("group", "kind", "namespace", "name")


def ancestors(
    policy: JSON,
    found: PolicyStatus | None,
    problems: Sequence[Problem],
    current: Sequence[JSON],
    now: str,
    controller: str = CONTROLLER,
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
    refs = [
        (dict(zip(_REF_FIELDS, (a.group, a.kind, a.namespace, a.name), strict=True)), a.conditions)
        for a in ours
    ]
    return _shared_list(
        current, "ancestorRef", _target, refs, generation, now, controller, MAX_ANCESTORS
    )


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


def _shared_list(
    current: Sequence[JSON],
    ref_field: str,
    key: Callable[[JSON], Hashable],
    ours: Sequence[tuple[JSON, Sequence[Condition]]],
    generation: int,
    now: str,
    controller: str,
    limit: int,
) -> list[JSON]:
    """A status list controllers share (a policy's ancestors, a route's parents): the other
    controllers' entries untouched, then ours up to `limit` in all, one per reference, each
    condition keeping its lastTransitionTime from our entry for the same reference while its
    status holds."""
    others = [e for e in current if e.get("controllerName") != controller]
    before = {
        (key(e.get(ref_field) or {}), c.get("type")): c
        for e in current
        if e.get("controllerName") == controller
        for c in e.get("conditions") or ()
    }
    ours_json = [
        {
            ref_field: ref,
            "controllerName": controller,
            "conditions": [
                _condition(c, generation, before.get((key(ref), c.type)), now) for c in conditions
            ],
        }
        for ref, conditions in ours
    ]
    return others + ours_json[: limit - len(others)]


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


def gateway_status(found: GatewayStatus, current: JSON, now: str) -> JSON:
    """A Gateway's `status.conditions` and `status.listeners` (its addresses are left as
    they are): every condition with the generation it is about, carried-over times."""
    before = {c.get("type"): c for c in current.get("conditions") or ()}
    listeners_before = {
        str(entry.get("name")): {c.get("type"): c for c in entry.get("conditions") or ()}
        for entry in current.get("listeners") or ()
    }
    return {
        "conditions": [
            _condition(c, found.generation, before.get(c.type), now) for c in found.conditions
        ],
        "listeners": [
            {
                "name": listener.name,
                "supportedKinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
                "attachedRoutes": listener.attached_routes,
                "conditions": [
                    _condition(
                        c,
                        found.generation,
                        listeners_before.get(listener.name, {}).get(c.type),
                        now,
                    )
                    for c in listener.conditions
                ],
            }
            for listener in found.listeners[:MAX_LISTENERS]
        ],
    }


def class_status(found: ClassStatus, current: JSON, now: str) -> JSON:
    """A GatewayClass's `status.conditions`: ours replace those of the same type, others stay."""
    before = {c.get("type"): c for c in current.get("conditions") or ()}
    ours = {c.type for c in found.conditions}
    return {
        "conditions": [c for c in current.get("conditions") or () if c.get("type") not in ours]
        + [_condition(c, found.generation, before.get(c.type), now) for c in found.conditions]
    }


def route_parents(
    found: RouteStatus, current: Sequence[JSON], now: str, controller: str = CONTROLLER
) -> list[JSON]:
    """An HTTPRoute's `status.parents`: other controllers' entries untouched, then ours."""
    refs = [(_parent_ref(p), p.conditions) for p in found.parents]
    return _shared_list(
        current, "parentRef", _parent_key, refs, found.generation, now, controller, MAX_PARENTS
    )


def _parent_ref(parent: ParentStatus) -> JSON:
    ref: JSON = {
        "group": parent.group,
        "kind": parent.kind,
        "namespace": parent.namespace,
        "name": parent.name,
    }
    if parent.section_name is not None:
        ref["sectionName"] = parent.section_name
    if parent.port is not None:
        ref["port"] = parent.port
    return ref


def _parent_key(ref: JSON) -> tuple[str, ...]:
    return tuple(
        str(ref.get(k, "")) for k in ("group", "kind", "namespace", "name", "sectionName", "port")
    )


def invalid_route(route: JSON, problems: Sequence[Problem]) -> RouteStatus:
    """A route xdscp cannot read (its last valid version, if any, is still served): not
    Accepted by any Gateway it names, with what is wrong."""
    message = status_message(problems)
    meta = route.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    parents = []
    for ref in (route.get("spec") or {}).get("parentRefs") or ():
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        parents.append(
            ParentStatus(
                str(ref.get("group", GATEWAY_GROUP)),
                str(ref.get("kind", "Gateway")),
                str(ref.get("namespace") or namespace),
                str(ref["name"]),
                ref.get("sectionName"),
                ref.get("port"),
                (Condition("Accepted", False, "UnsupportedValue", message),),
            )
        )
    return RouteStatus(
        namespace, str(meta.get("name") or ""), int(meta.get("generation") or 0), tuple(parents)
    )
