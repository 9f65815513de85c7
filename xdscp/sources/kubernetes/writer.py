"""Status write-back: each BackendConfigPolicy's findings, through its status subresource.

Only the leader writes, and only a difference: what a policy's status should say is compared
with what the stored object says, so a reconcile that finds nothing new sends nothing. A write
carries the resourceVersion it was computed from; if the object moved on meanwhile the server
answers 409 and the watch brings the newer version, which starts another pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter

from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.served import Findings
from xdscp.sources.kubernetes.api import JSON, Api, ApiError
from xdscp.sources.kubernetes.conditions import ancestors
from xdscp.sources.kubernetes.kinds import POLICIES
from xdscp.sources.kubernetes.store import SOURCE

log = logging.getLogger("xdscp.kubernetes")
RETRY_SECONDS = 1.0  # after a failed write; the watch pokes sooner when the object changes


class StatusWriter:
    def __init__(
        self,
        api: Api,
        served: Callable[[], Mapping[Key, JSON]],
        stored: Callable[[], Mapping[Key, JSON]],
        leading: Callable[[], bool],
        registry: CollectorRegistry,
    ) -> None:
        """`served`: the policies as in the view the findings are about; `stored`: as now."""
        self.api, self._served, self._stored = api, served, stored
        self.findings = Findings()  # about the view `served` gives
        self._leading = leading
        self._due = asyncio.Event()
        # The resourceVersion each write was based on: while the store still shows it, our
        # write has not come back through the watch yet, and comparing would see old status.
        self._written: dict[Key, str] = {}
        self.writes = Counter(
            "xdscp_status_writes",
            "BackendConfigPolicy status writes, by result",
            ["result"],
            registry=registry,
        )
        for result in ("written", "conflict", "error"):  # every series there from the start
            self.writes.labels(result)

    def publish(self, findings: Findings) -> None:
        self.findings = findings
        self.poke()

    def poke(self) -> None:
        """Something changed: reconcile soon (many pokes make one pass)."""
        self._due.set()

    async def run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            if self._leading():
                await self._reconcile()

    async def _reconcile(self) -> None:
        statuses = {(s.namespace, s.name): s for s in self.findings.policies}
        problems: dict[Key, list[Problem]] = defaultdict(list)
        for problem in self.findings.problems:
            if problem.source == SOURCE and problem.kind == POLICIES.kind:
                problems[(problem.namespace, problem.name)].append(problem)
        stored = self._stored()
        self._written = {k: v for k, v in self._written.items() if k in stored}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, served in sorted(self._served().items()):
            current = stored.get(key)
            if current is None or _generation(current) != _generation(served):
                continue  # deleted, or a newer spec is on its way through the pipeline
            version = str(current["metadata"].get("resourceVersion", ""))
            if self._written.get(key) == version:
                continue
            before = (current.get("status") or {}).get("ancestors") or []
            after = ancestors(served, statuses.get(key), problems.get(key, ()), before, now)
            if after is None or after == before:
                continue
            if not self._leading() or not await self._write(key, version, after):
                return

    async def _write(self, key: Key, version: str, after: list[JSON]) -> bool:
        """Write one status; False when the pass should stop (the server is unwell)."""
        path = POLICIES.path(*key) + "/status"
        patch = {"metadata": {"resourceVersion": version}, "status": {"ancestors": after}}
        try:
            await asyncio.to_thread(self.api.merge_patch, path, patch)
        except ApiError as err:
            if err.status in (404, 409):  # deleted or changed: the watch brings the news
                self.writes.labels("conflict").inc()
                return True
            self.writes.labels("error").inc()
            log.warning("writing the status of BackendConfigPolicy %s/%s: %s", *key, err)
            asyncio.get_running_loop().call_later(RETRY_SECONDS, self.poke)
            return False
        self._written[key] = version
        self.writes.labels("written").inc()
        log.info("wrote the status of BackendConfigPolicy %s/%s", *key)
        return True


def _generation(policy: JSON) -> int:
    return int((policy.get("metadata") or {}).get("generation") or 0)
