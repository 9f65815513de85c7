"""The translator's output as a person reads it: Envoy resources in config_dump's JSON form."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from xdscp.gatewaystatus import GatewayStatus, RouteStatus
from xdscp.model.problems import Problem
from xdscp.resourcetypes import BY_URL, REGISTRY, SECRET
from xdscp.status import Condition, PolicyStatus
from xdscp.translate import Translation
from xdscp.verify import as_envoy_shows


def message_dict(message: Message) -> dict[str, Any]:
    """The same field names and forms as Envoy's admin config_dump (snake_case, "5s")."""
    # Through JSON text: MessageToDict nests OrderedDicts for Any, which YAML cannot dump.
    as_dict: dict[str, Any] = json.loads(
        json_format.MessageToJson(message, preserving_proto_field_name=True)
    )
    return as_dict


def _listed(messages: Mapping[str, Message]) -> list[dict[str, Any]]:
    return [message_dict(m) for _, m in sorted(messages.items())]


def document(
    translation: Translation,
    problems: tuple[Problem, ...] = (),
    explain: bool = False,
    show_secrets: bool = False,
) -> dict[str, Any]:
    """Private keys are shown as Envoy's config_dump shows them (redacted) unless asked."""
    out: dict[str, Any] = {t.key: _listed(translation.messages(t.url)) for t in REGISTRY}
    if not show_secrets:
        out[BY_URL[SECRET].key] = as_envoy_shows(out[BY_URL[SECRET].key])
    every_problem = sorted((*problems, *translation.problems))
    if every_problem:
        out["problems"] = [str(p) for p in every_problem]
    if explain:
        out["policies"] = [
            status_dict(translation.statuses[k]) for k in sorted(translation.statuses)
        ]
        if translation.gateway_statuses:
            out["gateways"] = [gateway_dict(s) for s in translation.gateway_statuses]
        if translation.route_statuses:
            out["httproutes"] = [route_dict(s) for s in translation.route_statuses]
        out["provenance"] = [
            {
                "cluster": o.cluster,
                "field": o.field,
                "policy": o.policy,
                **({"overridden": list(o.overridden)} if o.overridden else {}),
            }
            for o in translation.origins
        ]
    return out


def status_dict(status: PolicyStatus) -> dict[str, Any]:
    return {
        "policy": f"{status.namespace}/{status.name}",
        "ancestors": [
            {
                "target": f"{a.kind} {a.namespace}/{a.name}",
                "conditions": _conditions(a.conditions),
            }
            for a in status.ancestors
        ],
    }


def _conditions(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """As Kubernetes writes them: status is the string "True" or "False"."""
    return [
        {"type": c.type, "status": str(c.status), "reason": c.reason, "message": c.message}
        for c in conditions
    ]


def gateway_dict(status: GatewayStatus) -> dict[str, Any]:
    return {
        "gateway": f"{status.namespace}/{status.name}",
        "conditions": _conditions(status.conditions),
        "listeners": [
            {
                "name": listener.name,
                "attachedRoutes": listener.attached_routes,
                "conditions": _conditions(listener.conditions),
            }
            for listener in status.listeners
        ],
    }


def route_dict(status: RouteStatus) -> dict[str, Any]:
    return {
        "httproute": f"{status.namespace}/{status.name}",
        "parents": [
            {
                "parentRef": f"{p.namespace}/{p.name}"
                + (f" sectionName={p.section_name}" if p.section_name else "")
                + (f" port={p.port}" if p.port else ""),
                "conditions": _conditions(p.conditions),
            }
            for p in status.parents
        ],
    }


def dumps(doc: dict[str, Any], output: str) -> str:
    if output == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    # No folding: a problem stays on one line, so grep and a reader find it whole.
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, width=2**31 - 1)
