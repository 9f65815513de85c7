"""The state of one ADS stream, in the protocol's words, and what both variants share."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from xdscp.logs import StreamLog, clip
from xdscp.resourcetypes import BY_URL, SHORT_NAMES
from xdscp.server.fleet import StreamStatus
from xdscp.server.metrics import Metrics
from xdscp.snapshot import Snapshot

log = logging.getLogger("xdscp.server")
WILDCARD = "*"

# A DiscoveryRequest or a DeltaDiscoveryRequest (the generated classes carry no type hints).
Request = Any


@dataclass
class Subscription:
    """One type on one stream: what the client asked for and what it was sent."""

    wildcard: bool = False
    names: frozenset[str] = frozenset()
    # The nonce of the newest response, and when it was sent (for push latency).
    nonce: str = ""
    sent_at: float = 0.0
    # State of the world: the version of the newest response, and whether it awaits an answer.
    sent_version: str = ""
    in_flight: bool = False
    # Delta: the version the client holds of each resource ("" after it was told of a removal).
    known: dict[str, str] = field(default_factory=dict)
    # Delta: responses not yet answered, nonce -> system version (delta may pipeline).
    pending: dict[str, str] = field(default_factory=dict)


class Variant(Protocol):
    """A protocol variant: requests and snapshots in, serialized responses out."""

    status: StreamStatus
    log: StreamLog

    def on_request(self, request: Request, snapshot: Snapshot | None) -> list[bytes]: ...

    def on_snapshot(self, snapshot: Snapshot) -> list[bytes]: ...

    def names_held(self) -> int: ...


class StreamBase:
    """Bookkeeping shared by both variants: node, unknown types, ACK/NACK accounting."""

    variant = ""

    def __init__(self, status: StreamStatus, metrics: Metrics) -> None:
        self.status = status
        self.metrics = metrics
        self.log = StreamLog(log, status)
        self.subscriptions: dict[str, Subscription] = {}
        self._unknown_types: set[str] = set()

    def names_held(self) -> int:
        """What the client made this stream keep, per type the names it subscribed or (delta)
        the versions it holds, whichever are more: within twice their union, counted in O(1)."""
        return sum(max(len(s.names), len(s.known)) for s in self.subscriptions.values())

    def accept_type(self, request: Request) -> bool:
        if not self.status.node_id and request.HasField("node"):
            self.status.node_id = request.node.id
            self.status.node_cluster = request.node.cluster
        if request.type_url in BY_URL:
            return True
        self.metrics.rejected.labels("unknown_type").inc()
        if request.type_url not in self._unknown_types:
            self._unknown_types.add(request.type_url)
            self.log.warning(
                "type %r is not served (serving %s); request ignored",
                request.type_url,
                ", ".join(SHORT_NAMES.values()),
            )
        return False

    def record_ack(self, type_url: str, subscription: Subscription, version: str) -> None:
        typed = self.status.of(type_url)
        typed.acked, typed.in_flight, typed.acks = version, "", typed.acks + 1
        self.metrics.acks.labels(SHORT_NAMES[type_url]).inc()
        if subscription.sent_at:
            self.metrics.push_latency.labels(SHORT_NAMES[type_url]).observe(
                time.monotonic() - subscription.sent_at
            )

    def record_nack(self, type_url: str, version: str, error: str) -> None:
        typed = self.status.of(type_url)
        typed.nacked, typed.error, typed.in_flight = version, clip(error), ""
        typed.nacks += 1
        self.metrics.nacks.labels(SHORT_NAMES[type_url]).inc()
        self.log.error(
            "type=%s version=%s NACK: %s",
            SHORT_NAMES[type_url],
            version,
            error,
        )

    def record_sent(
        self, type_url: str, subscription: Subscription, nonce: str, version: str
    ) -> None:
        subscription.nonce, subscription.sent_at = nonce, time.monotonic()
        typed = self.status.of(type_url)
        typed.in_flight, typed.responses = version, typed.responses + 1
        self.metrics.responses.labels(self.variant, SHORT_NAMES[type_url]).inc()
        self.log.debug(
            "type=%s version=%s nonce=%s sent",
            SHORT_NAMES[type_url],
            version,
            nonce,
        )
