"""Status write-back, through the status subresource: each BackendConfigPolicy's findings, each
Gateway's conditions and listeners, each HTTPRoute's parents.

Only the leader writes, and only a difference: what an object's status should say is compared
with what the stored object says, so a reconcile that finds nothing new sends nothing. A pass
looks only at the objects that may have something new to say since the last one: those whose
findings changed (the findings of every update add up between passes) or which were stored anew
(a status someone else wrote, a new spec, our own write coming back); a new leader looks at
every object once. A write
carries the resourceVersion it was computed from; if the object moved on meanwhile the server
answers 409 and the watch brings the newer version, which starts another pass. Up to
CONCURRENCY writes are in flight at once; a 429 (API Priority and Fairness turning requests
away) pauses them all for the Retry-After the server names, then the write is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from xdscp.gatewaystatus import CONTROLLER, ClassStatus, GatewayStatus, RouteStatus
from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.served import Findings
from xdscp.sources.kubernetes.api import JSON, ApiError
from xdscp.sources.kubernetes.conditions import (
    ancestors,
    class_status,
    gateway_status,
    invalid_route,
    route_parents,
)
from xdscp.sources.kubernetes.kinds import (
    GATEWAYCLASSES,
    GATEWAYS,
    HTTPROUTES,
    POLICIES,
    WITH_STATUS,
    Resource,
)
from xdscp.sources.kubernetes.store import SOURCE

log = logging.getLogger("xdscp.kubernetes")
RETRY_SECONDS = 1.0  # after a failed write; the watch pokes sooner when the object changes
# Writes in flight at once: enough to write 10,000 statuses in seconds, few enough to sit
# well inside the seats API Priority and Fairness gives a workload's priority level.
CONCURRENCY = 16
TOO_MANY_REQUESTS = 429
SLOT_POLL = 0.01  # seconds between looks for a free slot while at the limit
YIELD_EVERY = 200  # objects compared between two turns of the event loop
THROTTLED_WAIT = 1.0  # seconds, after a 429 that names no Retry-After
THROTTLED_WAIT_MAX = 30.0  # the longest Retry-After honoured
THROTTLED_TRIES = 20  # of one write in one pass; then the pass ends and is tried again later

# What one kind's status should say, from the object as served and as stored now: the fields
# of `status` to write (others are left as they are), or None when there is nothing to say.
Desired = Callable[[Key, JSON, JSON, str], JSON | None]


class Patcher(Protocol):
    """What the writer asks of the API server (api.Api; a scripted fake in the tests)."""

    def merge_patch(self, path: str, body: JSON) -> JSON: ...


class StatusWriter:
    def __init__(
        self,
        api: Patcher,
        served: Callable[[Resource], Mapping[Key, JSON]],
        stored: Callable[[Resource], Mapping[Key, JSON]],
        leading: Callable[[], bool],
        registry: CollectorRegistry,
        concurrency: int = CONCURRENCY,
        controller: str = CONTROLLER,
    ) -> None:
        """`served`: a kind's objects as in the view the findings are about; `stored`: as now.
        `controller`: the controllerName of xdscp's entries in status lists."""
        self.api, self._served, self._stored = api, served, stored
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="status-write")
        self._throttle = _Throttle(concurrency)
        self.controller = controller
        self.findings = Findings()  # about the view `served` gives
        self._leading = leading
        self._led = False  # at the last pass
        self._due = asyncio.Event()
        # The objects of each kind the next pass looks at (None: every one).
        self._pending: dict[Resource, set[Key] | None] = {r: None for r in WITH_STATUS}
        # The findings by object, as the pass reads them, and the problems of each object.
        self._statuses = _Statuses()
        # The resourceVersion each write was based on: while the store still shows it, our
        # write has not come back through the watch yet, and comparing would see old status.
        self._written: dict[str, dict[Key, str]] = defaultdict(dict)
        self.writes = Counter(
            "xdscp_status_writes",
            "Status writes, by kind and result",
            ["kind", "result"],
            registry=registry,
        )
        for resource in WITH_STATUS:  # every series there from the start
            for result in ("written", "conflict", "throttled", "error"):
                self.writes.labels(resource.kind, result)

    def publish(self, findings: Findings) -> None:
        for resource, keys in self._statuses.update(findings):
            self.recheck(resource, keys)
        self.findings = findings
        self.poke()

    def recheck(self, resource: Resource, keys: Iterable[Key] | None) -> None:
        """These objects of a kind (None: every one) may have something new to say: the next
        pass looks at them."""
        pending = self._pending.get(resource, set())
        if pending is None:
            return
        if keys is None:
            self._pending[resource] = None
        else:
            pending.update(keys)

    def poke(self) -> None:
        """Something changed: reconcile soon (many pokes make one pass)."""
        self._due.set()

    async def run(self) -> None:
        unfinished = False
        while True:
            if unfinished:
                # Cut short by a failed write, or not leading: try again soon even if no one
                # pokes. Leadership can lapse for a moment (a Lease renewal that came back
                # late) between two of the elector's checks, and then no one announces it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), RETRY_SECONDS)
            else:
                await self._due.wait()
            self._due.clear()
            leading = self._leading()
            if leading and not self._led:  # a new leader: whatever the last one left
                self._pending = {r: None for r in WITH_STATUS}
            self._led = leading
            unfinished = not (leading and await self._reconcile())

    async def _reconcile(self) -> bool:
        """False when the pass was cut short (what it was to look at is looked at again)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for resource, desired in self._kinds():
            keys, self._pending[resource] = self._pending[resource], set()
            if not await self._reconcile_kind(resource, desired, now, keys):
                self.recheck(resource, keys)
                return False
        return True

    def _kinds(self) -> list[tuple[Resource, Desired]]:
        statuses, controller = self._statuses, self.controller
        problems, policies = statuses.problems, self.findings.policies

        def policy(key: Key, served: JSON, current: JSON, now: str) -> JSON | None:
            before = (current.get("status") or {}).get("ancestors") or []
            found = problems.get((POLICIES.kind, key), ())
            after = ancestors(served, policies.get(key), found, before, now, controller)
            return None if after is None else {"ancestors": after}

        def gateway(key: Key, served: JSON, current: JSON, now: str) -> JSON | None:
            found = statuses.gateways.get(key)
            return (
                None if found is None else gateway_status(found, current.get("status") or {}, now)
            )

        def route(key: Key, served: JSON, current: JSON, now: str) -> JSON | None:
            invalid = problems.get((HTTPROUTES.kind, key))
            found = invalid_route(served, invalid) if invalid else statuses.routes.get(key)
            if found is None:
                return None
            before = (current.get("status") or {}).get("parents") or []
            return {"parents": route_parents(found, before, now, controller)}

        def gateway_class(key: Key, served: JSON, current: JSON, now: str) -> JSON | None:
            found = statuses.classes.get(key)  # another controller's class: never touched
            return None if found is None else class_status(found, current.get("status") or {}, now)

        return [
            (GATEWAYCLASSES, gateway_class),
            (POLICIES, policy),
            (GATEWAYS, gateway),
            (HTTPROUTES, route),
        ]

    async def _reconcile_kind(
        self, resource: Resource, desired: Desired, now: str, keys: set[Key] | None
    ) -> bool:
        """Looks at the objects `keys` names (None: every one); False when the pass should
        stop (the server is unwell, or leadership is gone)."""
        stored, served_now = self._stored(resource), self._served(resource)
        written = self._written[resource.kind]
        due: list[tuple[Key, str, JSON]] = []
        for n, key in enumerate(sorted(served_now if keys is None else keys)):
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # 10,000 comparisons must not hold up the Lease, xDS
            current, served = stored.get(key), served_now.get(key)
            if current is None:  # deleted
                written.pop(key, None)
                continue
            if served is None or _generation(current) != _generation(served):
                # A newer spec on its way through the pipeline: looked at once it is served.
                self.recheck(resource, (key,))
                continue
            version = str(current["metadata"].get("resourceVersion", ""))
            if written.get(key) == version:
                continue  # our write has not come back yet; it brings the object back when it does
            written.pop(key, None)
            after = desired(key, served, current, now)
            status = current.get("status") or {}
            if after is None or all(status.get(k) == v for k, v in after.items()):
                continue
            due.append((key, version, after))
        return await self._write_all(resource, due)

    async def _write_all(self, resource: Resource, due: list[tuple[Key, str, JSON]]) -> bool:
        """Writes each, `concurrency` at a time (10,000 one after the other take a minute and
        more); False when the pass should stop."""
        queue = iter(due)  # shared: each write is taken by one worker
        healthy = True

        async def worker() -> None:
            nonlocal healthy
            for key, version, after in queue:
                if not (healthy and self._leading()):
                    healthy = False
                    return
                if not await self._write(resource, key, version, after):
                    healthy = False

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(due)))))
        return healthy

    async def _write(self, resource: Resource, key: Key, version: str, after: JSON) -> bool:
        """Write one status; False when the pass should stop (the server is unwell)."""
        path = resource.path(*key) + "/status"
        patch = {"metadata": {"resourceVersion": version}, "status": after}
        kind = resource.kind
        loop = asyncio.get_running_loop()
        for _ in range(THROTTLED_TRIES):
            if not self._leading():
                return False
            try:
                async with self._throttle.slot():
                    await loop.run_in_executor(self._pool, self.api.merge_patch, path, patch)
            except ApiError as err:
                if _throttled(err):
                    # API Priority and Fairness refused it for now: the throttle slows every
                    # write down, and this one is tried again.
                    self.writes.labels(kind, "throttled").inc()
                    continue
                if err.status in (404, 409):  # deleted or changed: the watch brings the news
                    self.writes.labels(kind, "conflict").inc()
                    return True
                self.writes.labels(kind, "error").inc()
                log.warning("writing the status of %s %s/%s: %s", kind, *key, err)
                break
            self._written[kind][key] = version
            self.writes.labels(kind, "written").inc()
            log.info("wrote the status of %s %s/%s", kind, *key)
            return True
        else:
            self.writes.labels(kind, "error").inc()
            log.warning("writing the status of %s %s/%s: still throttled", kind, *key)
        return False


class _Statuses:
    """The findings of the latest update by object, and which objects' findings each update
    changed: a change costs the objects it changed (and the problems), not every status."""

    def __init__(self) -> None:
        self.problems: dict[tuple[str, Key], tuple[Problem, ...]] = {}  # the API server's
        self.gateways: dict[Key, GatewayStatus] = {}
        self.routes: dict[Key, RouteStatus] = {}
        self.classes: dict[Key, ClassStatus] = {}
        self._last = Findings()

    def update(self, findings: Findings) -> Iterator[tuple[Resource, Iterable[Key] | None]]:
        """Takes the newest findings; yields each kind's objects they may change."""
        last, self._last = self._last, findings
        yield POLICIES, findings.changed_policies
        found: dict[tuple[str, Key], list[Problem]] = defaultdict(list)
        for problem in findings.problems:
            if problem.source == SOURCE:
                found[(problem.kind, (problem.namespace, problem.name))].append(problem)
        problems = {where: tuple(listed) for where, listed in found.items()}
        for kind, key in problems.keys() | self.problems.keys():
            if kind in _WITH_STATUS and problems.get((kind, key)) != self.problems.get((kind, key)):
                yield _WITH_STATUS[kind], (key,)
        self.problems = problems
        # Few (a Gateway per proxy): each kind looked at whole whenever any of it changed.
        if findings.gateways != last.gateways:
            self.gateways = {(s.namespace, s.name): s for s in findings.gateways}
            yield GATEWAYS, None
        if findings.routes != last.routes:
            self.routes = {(s.namespace, s.name): s for s in findings.routes}
            yield HTTPROUTES, None
        if findings.classes != last.classes:
            self.classes = {("", s.name): s for s in findings.classes}
            yield GATEWAYCLASSES, None


_WITH_STATUS = {resource.kind: resource for resource in WITH_STATUS}


class _Throttle:
    """How many writes may be in flight, and until when none may start. A 429 halves the
    limit and pauses every write for the Retry-After the server names (all of them: sending the
    same number again would just be refused again); each success raises it back by about one
    per limit's worth of writes, up to `most` (TCP's additive increase, multiplicative
    decrease)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._limit = float(most)
        self._in_flight = 0
        self._until = 0.0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        while True:
            if (left := self._until - time.monotonic()) > 0:
                await asyncio.sleep(left)
            elif self._in_flight >= int(self._limit):
                await asyncio.sleep(SLOT_POLL)
            else:
                break
        self._in_flight += 1
        try:
            yield
        except ApiError as err:
            if _throttled(err):
                self._limit = max(1.0, self._limit / 2)
                wait = min(err.retry_after or THROTTLED_WAIT, THROTTLED_WAIT_MAX)
                self._until = max(self._until, time.monotonic() + wait)
            raise
        else:
            self._limit = min(float(self.most), self._limit + 1 / self._limit)
        finally:
            self._in_flight -= 1


def _throttled(err: ApiError) -> bool:
    """Too many requests, or a server error that names when to come back (as client-go
    retries them)."""
    return err.status == TOO_MANY_REQUESTS or (err.status >= 500 and err.retry_after is not None)


def _generation(body: JSON) -> int:
    return int((body.get("metadata") or {}).get("generation") or 0)
