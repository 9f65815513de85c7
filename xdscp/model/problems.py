"""Problems travel as data: the edges decide whether to print, log or write status."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one object, named the way `kubectl apply` names it."""

    source: str  # a file path, or "kubernetes"
    kind: str
    namespace: str
    name: str
    field: str  # the field path, e.g. spec.tcpKeepalive.keepAliveTime; "" for the whole object
    message: str
    # A warning: the object is served as written, but may not do what was meant (a reference
    # to something missing, a part that does not apply, a kind xdscp ignores).
    warning: bool = False

    @property
    def object(self) -> str:
        ref = f"{self.namespace}/{self.name}" if self.namespace else self.name
        if not ref.isprintable():  # a refused name must not forge a line of its own
            ref = json.dumps(ref)
        return f"{self.kind} {ref}" if self.kind else ref

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        severity = "warning: " if self.warning else ""
        return f"{severity}{self.source}: {self.object}: {where}{self.message}"


def status_message(problems: Iterable[Problem]) -> str:
    """What is wrong with one object, as a status condition's message says it: each field and
    its message, without the object (the status is the object's own)."""
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
