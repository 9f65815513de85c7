"""What each connected Envoy has: per stream and type, the version ACKed, in flight, NACKed.

This is what `xdscp status` prints and the admin endpoint serves, like istioctl proxy-status.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from xdscp.groups import NodeGroup
from xdscp.logs import clip
from xdscp.resourcetypes import SHORT_NAMES


@dataclass
class TypeStatus:
    acked: str = ""
    in_flight: str = ""
    nacked: str = ""
    error: str = ""
    responses: int = 0
    acks: int = 0
    nacks: int = 0


@dataclass
class StreamStatus:
    stream: int
    variant: str  # "sotw" or "delta"
    peer: str
    connected_at: float = field(default_factory=time.time)
    node_id: str = ""
    node_cluster: str = ""
    group: NodeGroup | None = None  # the node group it is served, once its node is known
    types: dict[str, TypeStatus] = field(default_factory=dict)

    def of(self, type_url: str) -> TypeStatus:
        return self.types.setdefault(SHORT_NAMES.get(type_url, type_url), TypeStatus())


class Fleet:
    def __init__(self) -> None:
        self._streams: dict[int, StreamStatus] = {}
        self._ids = itertools.count(1)

    def open(self, variant: str, peer: str) -> StreamStatus:
        status = StreamStatus(next(self._ids), variant, peer)
        self._streams[status.stream] = status
        return status

    def close(self, status: StreamStatus) -> None:
        self._streams.pop(status.stream, None)

    def describe(self, explain: Callable[[NodeGroup], str] = lambda _: "") -> list[dict[str, Any]]:
        """Every stream, its client-supplied strings (node, versions, NACK errors) clipped;
        `explain` says why a node's group is served less than it may expect."""
        return [
            _clipped(
                {
                    **asdict(s),
                    "group": s.group.key if s.group else "",
                    "gateway": "/".join(s.group.gateway) if s.group and s.group.gateway else "",
                    "group_problem": explain(s.group) if s.group else "",
                }
            )
            for s in sorted(self._streams.values(), key=lambda s: s.stream)
        ]

    def count(self, variant: str) -> int:
        return sum(1 for s in self._streams.values() if s.variant == variant)


def _clipped(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, dict):
        return {clip(k): _clipped(v) for k, v in value.items()}
    return value
