"""tcpKeepalive: SO_KEEPALIVE on upstream connections, with the kernel's knobs."""

from __future__ import annotations

from typing import Annotated

from xdscp.model.duration import DurationField, at_least
from xdscp.model.policy.rules import Block
from xdscp.model.types import NonNegInt32

# Envoy counts these in whole seconds, so kgateway's CRD asks for at least one.
KeepaliveDuration = Annotated[DurationField, at_least("1s", "1 second")]


class TcpKeepalive(Block):
    keep_alive_probes: NonNegInt32 | None = None
    keep_alive_time: KeepaliveDuration | None = None
    keep_alive_interval: KeepaliveDuration | None = None
