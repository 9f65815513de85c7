"""What an apply step may know about the cluster it configures, beside the cluster itself."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClusterContext:
    http2: (
        bool  # the upstream speaks HTTP/2 (Service port appProtocol or name, Backend appProtocol)
    )
    policy: tuple[str, str] = ("", "")  # (namespace, name) of the policy whose block is applied
    warnings: list[str] = field(default_factory=list)  # parts of a policy ignored for this target
