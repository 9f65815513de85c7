"""A stream's events forwarded to where people look: the fleet view, the metrics, the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from xdscp.logs import StreamLog, clip
from xdscp.metrics import Metrics
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.server.events import Acked, Event, Holds, Nacked, Rejected, Sent
from xdscp.server.fleet import StreamStatus
from xdscp.server.stream import Request

# Told of each answer: the type, the serial of the snapshot answered, and the error of a NACK
# (None for an ACK). The pipeline holds back what Envoy refused.
Verdicts = Callable[[str, int, str | None], None]
_UNANSWERED = 64  # responses remembered per stream until answered (delta may pipeline)


class StreamObserver:
    def __init__(
        self,
        status: StreamStatus,
        metrics: Metrics,
        log: StreamLog,
        verdicts: Verdicts | None = None,
    ) -> None:
        self.status, self.metrics, self.log = status, metrics, log
        self.verdicts = verdicts
        self._sent_at: dict[str, float] = {}  # type -> when its newest response went out
        self._serials: dict[str, int] = {}  # nonce -> snapshot serial, until answered

    def request(self, request: Request) -> None:
        """The node comes with the first request, or with a later one."""
        if not self.status.node_id and request.HasField("node"):
            self.status.node_id = request.node.id
            self.status.node_cluster = request.node.cluster

    def record(self, events: Iterable[Event]) -> None:
        for event in events:
            self._record(event)

    def _record(self, event: Event) -> None:
        short = SHORT_NAMES.get(event.type_url, event.type_url)
        if isinstance(event, Rejected):
            self.metrics.rejected.labels(event.reason).inc()
            if event.first:
                served = ", ".join(SHORT_NAMES.values())
                self.log.warning(
                    "type %r is not served (serving %s); request ignored", event.type_url, served
                )
            return
        typed = self.status.of(event.type_url)
        if isinstance(event, Holds):
            typed.acked = event.version
        elif isinstance(event, Sent):
            self._sent_at[event.type_url] = time.monotonic()
            self._serials[event.nonce] = event.serial
            if len(self._serials) > _UNANSWERED:
                del self._serials[next(iter(self._serials))]
            typed.in_flight, typed.responses = event.version, typed.responses + 1
            self.metrics.responses.labels(self.status.variant, short).inc()
            self.log.debug("type=%s version=%s nonce=%s sent", short, event.version, event.nonce)
        elif isinstance(event, Acked):
            typed.acked, typed.in_flight, typed.acks = event.version, "", typed.acks + 1
            self.metrics.acks.labels(short).inc()
            sent_at = self._sent_at.get(event.type_url)
            if sent_at is not None:
                self.metrics.push_latency.labels(short).observe(time.monotonic() - sent_at)
            self._verdict(event.type_url, event.nonce, None)
        elif isinstance(event, Nacked):
            typed.nacked, typed.error, typed.in_flight = event.version, clip(event.error), ""
            typed.nacks += 1
            self.metrics.nacks.labels(short).inc()
            self.log.error("type=%s version=%s NACK: %s", short, event.version, event.error)
            self._verdict(event.type_url, event.nonce, event.error)

    def _verdict(self, type_url: str, nonce: str, error: str | None) -> None:
        serial = self._serials.pop(nonce, None)
        if serial is not None and self.verdicts is not None:
            self.verdicts(type_url, serial, error)
