"""Policy status from an attachment: Accepted and Attached, per policy and target."""

from __future__ import annotations

from pydantic.alias_generators import to_camel

from xdscp.model.resources import Key
from xdscp.status import Accepted, AncestorStatus, Attached
from xdscp.translate.attachment import Attachment, Target


def ancestor(
    target: Target, policy: Key, attachment: Attachment | None, warnings: set[str]
) -> AncestorStatus:
    """What one policy does to one target (`attachment` None: no such target); `warnings`:
    what of the policy was ignored there."""

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
