"""What is served after an update, and the sinks its findings go to.

The pipeline returns a `Served`; the admin endpoint reads the newest one; each status writer
(policy status in Kubernetes today, Gateway and HTTPRoute status next) is a `Sink` that the
composition root (app.py) hands the findings of every update served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from xdscp.gatewaystatus import ClassStatus, GatewayStatus, RouteStatus
from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.snapshot import Groups, Snapshot
from xdscp.status import PolicyStatus


@dataclass(frozen=True)
class Findings:
    """What was found in one served view: every problem, each policy's status, and each
    Gateway's and HTTPRoute's."""

    problems: tuple[Problem, ...] = ()
    policies: Mapping[Key, PolicyStatus] = field(default_factory=dict)  # by policy
    gateways: tuple[GatewayStatus, ...] = ()
    routes: tuple[RouteStatus, ...] = ()
    classes: tuple[ClassStatus, ...] = ()  # xdscp's GatewayClasses
    # The policies whose status is another (or new, or gone) than in the findings published
    # just before these; None: any may be. Every findings is published, in order, so a sink
    # that writes less often adds these up between its writes.
    changed_policies: frozenset[Key] | None = None


@dataclass(frozen=True)
class Served:
    snapshot: Snapshot  # everything translated: what the groups are cut from
    groups: Groups = field(default_factory=Groups)  # each node group's
    findings: Findings = Findings()
    # Why this is not the translation of the latest input ("" when it is): translating that
    # failed, or objects are held at their last good version.
    stale: str = ""


class Sink(Protocol):
    """Takes the findings of each update served; writes them out in its own task."""

    def publish(self, findings: Findings) -> None:
        """The newest findings (cheap: the writing happens in `run`)."""

    async def run(self) -> None:
        """Write until cancelled."""
