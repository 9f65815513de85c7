"""targetRefs and targetSelectors: which Services and Backends a policy configures."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidatorFunctionWrapHandler, WrapValidator

from xdscp.model.policy.rules import Block, admit
from xdscp.model.types import Str

# (group, kind) pairs a policy may target. Hostname is accepted for kgateway's sake; xdscp has
# no Istio Hostnames, so such a target is reported as not found.
TARGET_KINDS = frozenset(
    {("", "Service"), ("gateway.kgateway.dev", "Backend"), ("networking.istio.io", "Hostname")}
)

_DNS_SUBDOMAIN = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"

Group = Annotated[str, Field(strict=True, max_length=253, pattern=_DNS_SUBDOMAIN)]
Kind = Annotated[str, Field(strict=True, min_length=1, max_length=63, pattern=_KIND)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=253)]


class TargetRef(Block):
    group: Group
    kind: Kind
    name: Name


class TargetSelector(Block):
    group: Group
    kind: Kind
    match_labels: dict[Str, Str]


def _allowed_kinds(label: str) -> WrapValidator:
    """The CRD's rule on the whole list, reported at the list as the API server does."""
    message = f"{label} must reference either a Kubernetes Service, a Backend, or an Istio Hostname"

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        items = value if isinstance(value, list | tuple) else []
        allowed = all(_group_kind(item) in TARGET_KINDS for item in items)
        return admit(value, handler, [] if allowed else [message], label)

    return WrapValidator(check)


def _group_kind(item: Any) -> tuple[Any, Any]:
    if isinstance(item, dict):
        return item.get("group"), item.get("kind")
    return getattr(item, "group", None), getattr(item, "kind", None)


TargetRefs = Annotated[
    tuple[TargetRef, ...], Field(min_length=1, max_length=16), _allowed_kinds("TargetRefs")
]
TargetSelectors = Annotated[tuple[TargetSelector, ...], _allowed_kinds("TargetSelectors")]
