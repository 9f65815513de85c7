"""The state of one ADS stream, in the protocol's words, and what both variants share.

A stream is pure protocol state: requests and snapshots in, the responses to send and events
(server/events.py) out. It reads no clock and writes no log, metric or status.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from xdscp.resourcetypes import BY_URL
from xdscp.server.events import Acked, Event, Nacked, Rejected, Sent
from xdscp.server.held import Held
from xdscp.snapshot import Snapshot

WILDCARD = "*"

# A DiscoveryRequest or a DeltaDiscoveryRequest (the generated classes carry no type hints).
Request = Any


@dataclass
class Subscription:
    """One type on one stream: what the client asked for and what it was sent."""

    wildcard: bool = False
    # State of the world: each request's names, as they are (a frozenset, shared with other
    # streams as the key of a response); delta: a set, changed in place by each request.
    names: AbstractSet[str] = frozenset()
    nonce: str = ""  # of the newest response
    # State of the world: the version of the newest response, and whether it awaits an answer.
    sent_version: str = ""
    in_flight: bool = False
    # Delta: the version the client holds of each resource ("" after it was told of a removal).
    known: Held = field(default_factory=Held)
    # Delta: responses not yet answered, nonce -> system version (delta may pipeline).
    pending: dict[str, str] = field(default_factory=dict)


class Output(NamedTuple):
    responses: list[bytes]  # serialized, to send in this order
    events: list[Event]


class Variant(Protocol):
    """A protocol variant: requests and snapshots in, responses and events out."""

    def on_request(self, request: Request, snapshot: Snapshot | None) -> Output: ...

    def on_snapshot(self, snapshot: Snapshot) -> Output: ...

    def names_held(self) -> int: ...


class StreamBase:
    """Bookkeeping shared by both variants: unknown types, ACK/NACK and send events."""

    variant = ""

    def __init__(self, stream_id: int = 0) -> None:
        self.stream_id = stream_id
        self.subscriptions: dict[str, Subscription] = {}
        self._unknown_types: set[str] = set()
        self._events: list[Event] = []

    def names_held(self) -> int:
        """What the client made this stream keep, per type the names it subscribed or (delta)
        the versions it holds, whichever are more: within twice their union, counted in O(1)."""
        return sum(max(len(s.names), len(s.known)) for s in self.subscriptions.values())

    def output(self, responses: list[bytes]) -> Output:
        """The responses, with the events gathered since the last output."""
        events, self._events = self._events, []
        return Output(responses, events)

    def accept_type(self, request: Request) -> bool:
        type_url = request.type_url
        if type_url in BY_URL:
            return True
        self._events.append(Rejected(type_url, "unknown_type", type_url not in self._unknown_types))
        self._unknown_types.add(type_url)
        return False

    def record(self, event: Event) -> None:
        self._events.append(event)

    def record_answer(self, type_url: str, version: str, request: Request) -> None:
        nonce = request.response_nonce
        if request.HasField("error_detail"):
            self._events.append(Nacked(type_url, version, request.error_detail.message, nonce))
        else:
            self._events.append(Acked(type_url, version, nonce))

    def record_sent(
        self, type_url: str, subscription: Subscription, nonce: str, version: str, serial: int
    ) -> None:
        subscription.nonce = nonce
        self._events.append(Sent(type_url, version, nonce, serial))

    def sent_now(self, type_url: str) -> bool:
        """Whether a response of this type went out since the last output."""
        return any(isinstance(e, Sent) and e.type_url == type_url for e in self._events)
