"""The current snapshot per node group, and the wake-ups that tell streams it changed.

Streams see the cache only through `get` and `watch` (as go-control-plane's server sees its
cache through a watcher interface), so what serves a node and how it is built stay apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from envoy.config.core.v3 import base_pb2

from xdscp.groups import UNNAMED, NodeGroup, identify
from xdscp.snapshot import Snapshot

Wakeup = Callable[[], None]


class SnapshotCache:
    def __init__(self, group_of: Callable[[base_pb2.Node], NodeGroup] = identify) -> None:
        self.group_of = group_of
        self._snapshots: dict[str, Snapshot] = {}
        # What a group not published is served: nothing at all until the first publish (a
        # stream waits), an empty configuration after it.
        self._fallback: Snapshot | None = None
        self._notes: Mapping[str, str] = {}
        self._watchers: dict[str, set[Wakeup]] = {}

    def get(self, group: str) -> Snapshot | None:
        return self._snapshots.get(group, self._fallback)

    def set(self, snapshot: Snapshot, group: str = UNNAMED) -> None:
        """Replace one group's snapshot, leaving the others as they are."""
        self.publish({**self._snapshots, group: snapshot}, self._notes, fallback=self._fallback)

    def publish(
        self,
        snapshots: Mapping[str, Snapshot],
        notes: Mapping[str, str] | None = None,
        fallback: Snapshot | None = None,
    ) -> None:
        """Replace every group's snapshot; groups left out are served `fallback` (by default an
        empty configuration). Only streams whose group's version changed are woken."""
        before = {group: self.get(group) for group in self._watchers}
        self._snapshots = dict(snapshots)
        self._fallback = fallback if fallback is not None else Snapshot({})
        self._notes = notes or {}
        for group, wakeups in list(self._watchers.items()):
            old, new = before[group], self.get(group)
            if new is not None and (old is None or old.version != new.version):
                for wakeup in list(wakeups):
                    wakeup()

    def explain(self, group: NodeGroup) -> str:
        """Why a node of this group is served less than it may expect ("" when it is not)."""
        if group.problem:
            return f"{group.problem}: serving an empty configuration"
        if group.gateway and self._fallback is not None and group.key not in self._snapshots:
            return (
                "Gateway {}/{} does not exist: serving an empty configuration until it does".format(
                    *group.gateway
                )
            )
        return self._notes.get(group.key, "")

    def watch(self, group: str, wakeup: Wakeup) -> Callable[[], None]:
        """Call `wakeup` on every change of the group's snapshot until the returned cancel."""
        self._watchers.setdefault(group, set()).add(wakeup)

        def cancel() -> None:
            watchers = self._watchers.get(group)
            if watchers is not None:
                watchers.discard(wakeup)
                if not watchers:  # groups named by departed nodes are forgotten
                    del self._watchers[group]

        return cancel
