"""Policy status from an attachment: Accepted and Attached, per policy and target."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic.alias_generators import to_camel

from xdscp.model.backendconfigpolicy import BackendConfigPolicy
from xdscp.model.resources import Key, Resources
from xdscp.status import Accepted, AncestorStatus, Attached, PolicyStatus
from xdscp.translate.attachment import Attachment, Target
from xdscp.translate.memo import Memo


def policy_statuses(
    resources: Resources,
    attachments: Mapping[Target, Attachment],
    targets_of: Mapping[Key, list[Target]],
    warnings: Mapping[tuple[Target, Key], set[str]],
    memo: Memo,
) -> list[PolicyStatus]:
    statuses = []
    for key, policy in resources.policies.items():
        targets = targets_of[key]
        found = [attachments.get(t) for t in targets]
        said = [warnings.get((t, key)) for t in targets]  # None unless something was ignored
        inputs = (policy, *found, *said)
        statuses.append(
            memo.get(("status", key), inputs, _status, key, policy, targets, found, said)
        )
    return statuses


def _status(
    key: Key,
    policy: BackendConfigPolicy,
    targets: list[Target],
    found: list[Attachment | None],
    said: list[set[str] | None],
) -> PolicyStatus:
    ancestors = tuple(
        _ancestor(target, key, attachment, warnings or set())
        for target, attachment, warnings in zip(targets, found, said, strict=True)
    )
    return PolicyStatus(*key, policy.metadata.generation, ancestors)


def _ancestor(
    target: Target, policy: Key, attachment: Attachment | None, warnings: set[str]
) -> AncestorStatus:
    def status(
        accepted: Accepted, accepted_message: str, attached: Attached, attached_message: str
    ) -> AncestorStatus:
        return AncestorStatus(
            target.group,
            target.kind,
            target.namespace,
            target.name,
            accepted,
            accepted_message,
            attached,
            attached_message,
        )

    if attachment is None:
        return status(
            Accepted.TARGET_NOT_FOUND, f"{target} not found", Attached.PENDING, "no such target"
        )
    accepted, accepted_message = (
        (Accepted.PARTIALLY_VALID, "; ".join(sorted(warnings)))
        if warnings
        else (Accepted.VALID, "policy is valid")
    )
    won = [s for s in attachment.settings if s.policy == policy]
    lost = [s for s in attachment.settings if policy in s.overridden]
    if not won:
        attached = Attached.OVERRIDDEN
        message = "; ".join(f"{to_camel(s.field)} set by {'/'.join(s.policy)}" for s in lost)
    elif lost or len(attachment.policies) > 1:
        attached = Attached.MERGED
        message = (
            f"merged with {', '.join('/'.join(p) for p in attachment.policies if p != policy)}"
        )
        if lost:
            message += "; overridden: " + ", ".join(
                f"{to_camel(s.field)} by {'/'.join(s.policy)}" for s in lost
            )
    else:
        attached, message = Attached.ATTACHED, "applied"
    return status(accepted, accepted_message, attached, message or "no fields set")
