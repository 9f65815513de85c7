"""Model updates to served snapshots: translate, serialize, hand to the cache; keep findings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from xdscp.cache import SnapshotCache
from xdscp.groups import GATEWAY, ROLE, UNNAMED
from xdscp.model.problems import Problem
from xdscp.render import status_dict
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.server.metrics import Metrics
from xdscp.snapshot import Snapshot, by_group
from xdscp.sources import Update
from xdscp.status import PolicyStatus
from xdscp.translate import Memo, Options, translate

log = logging.getLogger("xdscp")


class Pipeline:
    def __init__(self, cache: SnapshotCache, metrics: Metrics, options: Options) -> None:
        self.cache = cache
        self.metrics = metrics
        self.options = options
        self.snapshot: Snapshot | None = None  # everything translated: what groups are cut from
        self.groups: dict[str, Snapshot] = {}
        self.problems: tuple[Problem, ...] = ()
        self.statuses: list[PolicyStatus] = []
        self.memo = Memo()  # only what a change touches is translated again
        self._on_apply: list[Callable[[], None]] = []

    def on_apply(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each update served (Kubernetes mode then writes status)."""
        self._on_apply.append(callback)

    def apply(self, update: Update) -> Snapshot | None:
        """Serve the update; if translating it fails, the last good snapshot stays served."""
        started = time.perf_counter()
        try:
            translation = translate(update.resources, self.options, self.memo)
            snapshot = Snapshot.build(translation, self.snapshot)
            groups = by_group(snapshot, translation, self.groups)
        except Exception:
            log.exception("translation failed; still serving snapshot %s", self._version())
            return self.snapshot
        problems = tuple(sorted((*update.problems, *translation.problems)))
        if problems != self.problems:
            for problem in problems:
                log.warning("%s", problem)
        self.problems, self.statuses = problems, translation.statuses
        self.snapshot, self.groups = snapshot, groups
        self.cache.publish(groups, _notes(update))
        self.metrics.snapshot_build.observe(time.perf_counter() - started)
        self.metrics.snapshot_version.clear()
        self.metrics.snapshot_version.labels(snapshot.version).set(1)
        log.info("snapshot %s: %s", snapshot.version, _counts(snapshot))
        for callback in self._on_apply:
            callback()
        return snapshot

    def _version(self) -> str:
        return self.snapshot.version if self.snapshot else "(none)"

    def describe(self) -> dict[str, Any]:
        return {
            "snapshot": self._version(),
            "problems": [str(p) for p in self.problems],
            "policies": [status_dict(s) for s in self.statuses],
        }


def _notes(update: Update) -> dict[str, str]:
    gateways = update.resources.gateways
    if len(gateways) < 2:
        return {}
    named = ", ".join("/".join(key) for key in gateways)
    return {
        UNNAMED: f"names no Gateway, and there are {len(gateways)} ({named}): serving clusters "
        f"only; name one in node.metadata.{ROLE} or node.metadata.{GATEWAY}"
    }


def _counts(snapshot: Snapshot) -> str:
    return ", ".join(f"{len(snapshot.resources[t])} {short}" for t, short in SHORT_NAMES.items())
