"""What an apply step may know about the cluster it configures: never the cluster itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterContext:
    cluster: str  # its name, for messages
    # The upstream speaks HTTP/2 (Service port appProtocol or name, Backend appProtocol).
    http2: bool = False
    dns: bool = False  # its endpoints are resolved by DNS (a Backend with host names)
    policy: tuple[str, str] = ("", "")  # (namespace, name) of the policy whose block is applied
