"""What a stream reports besides its responses: facts in the protocol's words, as data.

The streams only make them; the server forwards them to the fleet view, the metrics and the
log (server/observer.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sent:
    """A response went out (or is about to: the bytes come with the event)."""

    type_url: str
    version: str
    nonce: str
    # The snapshot it was cut from, so an answer can be traced to the input behind it.
    serial: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Acked:
    type_url: str
    version: str
    nonce: str = field(default="", compare=False)  # of the response answered


@dataclass(frozen=True)
class Nacked:
    type_url: str
    version: str
    error: str
    nonce: str = field(default="", compare=False)  # of the response refused


@dataclass(frozen=True)
class Holds:
    """A new subscription: the version the client already holds ("" for none)."""

    type_url: str
    version: str


@dataclass(frozen=True)
class Rejected:
    """A request ignored; `first` is whether it is the first for this reason and type."""

    type_url: str
    reason: str
    first: bool


Event = Sent | Acked | Nacked | Holds | Rejected
