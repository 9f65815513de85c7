"""Model updates to served snapshots: translate, serialize, hand to the cache; return what is
served and what was found in it."""

from __future__ import annotations

import logging
import time

from xdscp.cache import SnapshotCache
from xdscp.groups import GATEWAY, ROLE, UNNAMED
from xdscp.metrics import Metrics
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.served import Findings, Served
from xdscp.snapshot import Snapshot, by_group
from xdscp.sources import Update
from xdscp.translate import Memo, Options, translate

log = logging.getLogger("xdscp")


class Pipeline:
    def __init__(self, cache: SnapshotCache, metrics: Metrics, options: Options) -> None:
        self.cache = cache
        self.metrics = metrics
        self.options = options
        self.served: Served | None = None
        self.memo = Memo()  # only what a change touches is translated again

    def apply(self, update: Update) -> Served | None:
        """Serve the update and return what is served: if translating it fails, the last good
        view stays served and is returned (None before there is one)."""
        started = time.perf_counter()
        previous = self.served
        try:
            translation = translate(update.resources, self.options, self.memo)
            snapshot = Snapshot.build(translation, previous.snapshot if previous else None)
            groups = by_group(snapshot, translation, previous.groups if previous else {})
        except Exception:
            version = previous.snapshot.version if previous else "(none)"
            log.exception("translation failed; still serving snapshot %s", version)
            return previous
        problems = tuple(sorted((*update.problems, *translation.problems)))
        if previous is None or problems != previous.findings.problems:
            for problem in problems:
                log.warning("%s", problem)
        served = self.served = Served(
            snapshot, groups, Findings(problems, tuple(translation.statuses))
        )
        self.cache.publish(groups, _notes(update))
        self.metrics.snapshot_build.observe(time.perf_counter() - started)
        self.metrics.snapshot_version.clear()
        self.metrics.snapshot_version.labels(snapshot.version).set(1)
        log.info("snapshot %s: %s", snapshot.version, _counts(snapshot))
        return served


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
