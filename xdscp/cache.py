"""The current snapshot per node group, and the wake-ups that tell streams it changed.

Streams see the cache only through `get` and `watch` (as go-control-plane's server sees its
cache through a watcher interface), so what serves a node and how it is built stay apart.
"""

from __future__ import annotations

from collections.abc import Callable

from envoy.config.core.v3 import base_pb2

from xdscp.snapshot import Snapshot

DEFAULT_GROUP = "default"
Wakeup = Callable[[], None]


def same_group_for_all(_: base_pb2.Node) -> str:
    """Every Envoy is served the same snapshot: the gateway is one fleet."""
    return DEFAULT_GROUP


class SnapshotCache:
    def __init__(self, group_of: Callable[[base_pb2.Node], str] = same_group_for_all) -> None:
        self.group_of = group_of
        self._snapshots: dict[str, Snapshot] = {}
        self._watchers: dict[str, set[Wakeup]] = {}

    def get(self, group: str) -> Snapshot | None:
        return self._snapshots.get(group)

    def set(self, snapshot: Snapshot, group: str = DEFAULT_GROUP) -> None:
        previous = self._snapshots.get(group)
        self._snapshots[group] = snapshot
        if previous is None or previous.version != snapshot.version:
            for wakeup in list(self._watchers.get(group, ())):
                wakeup()

    def watch(self, group: str, wakeup: Wakeup) -> Callable[[], None]:
        """Call `wakeup` on every change of the group's snapshot until the returned cancel."""
        self._watchers.setdefault(group, set()).add(wakeup)
        return lambda: self._watchers[group].discard(wakeup)
