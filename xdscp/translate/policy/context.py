"""What an apply step may know about the cluster it configures: never the cluster itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from xdscp.model.resources import Key
from xdscp.translate.secrets import Resolved


@dataclass(frozen=True)
class ClusterContext:
    cluster: str  # its name, for messages
    # The upstream speaks HTTP/2 (Service port appProtocol or name, Backend appProtocol).
    http2: bool = False
    dns: bool = False  # its endpoints are resolved by DNS (a Backend with host names)
    policy: tuple[str, str] = ("", "")  # (namespace, name) of the policy whose block is applied
    # The Secret each of the target's policies refers to, by policy, as translate resolved it.
    secrets: Mapping[Key, Resolved] = field(default_factory=dict)
