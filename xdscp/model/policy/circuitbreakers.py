"""circuitBreakers: limits on connections and requests to the upstream (default priority)."""

from __future__ import annotations

from xdscp.model.policy.rules import Block, at_least_one
from xdscp.model.types import Bool, NonNegInt32, PositiveInt32


class CircuitBreakers(Block):
    RULES = (at_least_one("maxConnections", "maxPendingRequests", "maxRequests", "maxRetries"),)

    max_connections: PositiveInt32 | None = None
    max_pending_requests: PositiveInt32 | None = None
    max_requests: PositiveInt32 | None = None
    max_retries: NonNegInt32 | None = None
    track_remaining: Bool | None = None
