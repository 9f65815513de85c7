"""The status writer against a scripted API server: writes in parallel, bounded, and backing
off when API Priority and Fairness answers 429. Fast; test_kmode_status.py proves the real
thing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from xdscp.model.resources import Key
from xdscp.served import Findings
from xdscp.sources.kubernetes.api import ApiError
from xdscp.sources.kubernetes.kinds import POLICIES, Resource
from xdscp.sources.kubernetes.writer import StatusWriter
from xdscp.status import Accepted, AncestorStatus, Attached, PolicyStatus

CONCURRENCY = 4
POLICY_COUNT = 40
RETRY_AFTER = 0.2  # seconds the fake server asks for with each 429


def policy(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": f"p{i}", "namespace": "ns", "generation": 1, "resourceVersion": "1"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": f"s{i}"}]},
    }


def found(i: int, accepted: Accepted = Accepted.VALID) -> PolicyStatus:
    target = AncestorStatus("", "Service", "ns", f"s{i}", accepted, "ok", Attached.ATTACHED, "ok")
    return PolicyStatus("ns", f"p{i}", 1, (target,))


def every_found() -> dict[tuple[str, str], PolicyStatus]:
    return {(s.namespace, s.name): s for s in map(found, range(POLICY_COUNT))}


class FakeServer:
    """Stores what is patched, as the API server would; refuses the first `throttle` calls
    with 429 and Retry-After; counts the calls in flight."""

    def __init__(self, throttle: int) -> None:
        self.objects: dict[Key, dict[str, Any]] = {
            ("ns", f"p{i}"): policy(i) for i in range(POLICY_COUNT)
        }
        self.throttle = throttle
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.patches: list[str] = []
        self.refused_at: list[float] = []
        self.accepted_at: list[float] = []
        self.accepted_in_flight: list[int] = []

    def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            refuse = self.throttle > 0
            self.throttle -= 1
        try:
            time.sleep(0.01)  # long enough for the writes to overlap
            if refuse:
                self.refused_at.append(time.monotonic())
                raise ApiError(429, "Too many requests, please try again later.", RETRY_AFTER)
            name = path.split("/")[-2]
            with self.lock:
                stored = self.objects[("ns", name)]
                assert body["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
                version = str(int(stored["metadata"]["resourceVersion"]) + 1)
                stored["metadata"] = {**stored["metadata"], "resourceVersion": version}
                stored["status"] = body["status"]
                self.patches.append(name)
                self.accepted_at.append(time.monotonic())
                self.accepted_in_flight.append(self.in_flight)
            return stored
        finally:
            with self.lock:
                self.in_flight -= 1

    def stored(self, resource: Resource) -> dict[Key, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self.objects.items()}


async def reconcile(server: FakeServer, writer: StatusWriter, settle: float = 0.5) -> None:
    """Runs the writer until nothing has been patched for `settle` seconds."""
    task = asyncio.create_task(writer.run())
    try:
        writer.publish(Findings(policies=every_found()))
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < settle:
            await asyncio.sleep(0.05)
            if len(server.patches) != seen:
                seen, quiet_since = len(server.patches), time.monotonic()
            writer.poke()  # as the watch does when a written status comes back
    finally:
        task.cancel()


def writer_for(server: FakeServer, registry: CollectorRegistry) -> StatusWriter:
    served = {k: dict(v) for k, v in server.objects.items()}
    return StatusWriter(
        server, lambda r: served, server.stored, lambda: True, registry, concurrency=CONCURRENCY
    )


def sample(registry: CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value(
        "xdscp_status_writes_total", {"kind": "BackendConfigPolicy", "result": result}
    )
    return value or 0.0


def test_statuses_are_written_in_parallel_each_once_and_never_again_unchanged() -> None:
    server, registry = FakeServer(throttle=0), CollectorRegistry()
    writer = writer_for(server, registry)
    asyncio.run(reconcile(server, writer))

    assert sorted(server.patches) == sorted(f"p{i}" for i in range(POLICY_COUNT))
    assert 1 < server.most_in_flight <= CONCURRENCY
    assert sample(registry, "written") == POLICY_COUNT

    # Nothing new to say: another pass on the same findings writes nothing.
    asyncio.run(reconcile(server, writer, settle=0.3))
    assert len(server.patches) == POLICY_COUNT


def test_a_429_pauses_every_write_for_its_retry_after_and_each_is_written_in_the_end() -> None:
    server, registry = FakeServer(throttle=6), CollectorRegistry()
    asyncio.run(reconcile(server, writer_for(server, registry), settle=3.0))

    assert sorted(server.patches) == sorted(f"p{i}" for i in range(POLICY_COUNT))
    assert sample(registry, "throttled") == 6 and sample(registry, "error") == 0
    # No write was accepted sooner than the server asked after the first refusal.
    first_refusal = min(server.refused_at)
    assert min(server.accepted_at) >= first_refusal + RETRY_AFTER * 0.9
    assert server.most_in_flight <= CONCURRENCY
    # Refused, the writer sends fewer at once (the limit halved with each 429, down to one),
    # then more again as writes succeed.
    assert server.accepted_in_flight[0] == 1
    assert max(server.accepted_in_flight) > 1


def test_a_pass_cut_short_by_a_lapse_of_leadership_resumes_by_itself() -> None:
    """The Lease renewed late: leadership lapses for a moment between two of the elector's
    checks, so nothing announces its return. The writer must come back on its own."""
    server, registry = FakeServer(throttle=0), CollectorRegistry()
    served = {k: dict(v) for k, v in server.objects.items()}
    asked = 0

    def leading() -> bool:
        nonlocal asked
        asked += 1
        return not 10 <= asked < 15

    writer = StatusWriter(
        server, lambda r: served, server.stored, leading, registry, concurrency=CONCURRENCY
    )

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        try:
            writer.publish(Findings(policies=every_found()))
            deadline = time.monotonic() + 10
            while len(server.patches) < POLICY_COUNT and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # no poke: only the writer itself may resume
        finally:
            task.cancel()

    asyncio.run(run())
    assert sorted(server.patches) == sorted(f"p{i}" for i in range(POLICY_COUNT))


class Looked(dict[Key, dict[str, Any]]):
    """The objects as served, noting each one a pass looks at."""

    looked: set[Key]

    def get(self, key: Key, default: Any = None) -> Any:
        self.looked.add(key)
        return super().get(key, default)


async def until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "not done in 10 s"
        await asyncio.sleep(0.02)


def test_a_pass_looks_only_at_objects_whose_findings_changed_or_that_were_stored_anew() -> None:
    """10,000 policies: a change of one must not cost a look at each. What changed adds up
    over the updates published between two passes; a status someone else wrote (stored anew,
    as the watch tells) is written back."""
    server, registry = FakeServer(throttle=0), CollectorRegistry()
    served = Looked({k: dict(v) for k, v in server.objects.items()})
    served.looked = set()
    writer = StatusWriter(
        server, lambda r: served, server.stored, lambda: True, registry, concurrency=CONCURRENCY
    )
    statuses = every_found()

    def stored_anew(*keys: Key) -> None:  # as the store tells the writer of a watch event
        for key in keys:
            writer.recheck(POLICIES, (key,))
        writer.poke()

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        try:
            writer.publish(Findings(policies=statuses))
            await until(lambda: len(server.patches) == POLICY_COUNT)
            stored_anew(*statuses)  # our writes, back through the watch: nothing to say
            await until(lambda: len(served.looked) == POLICY_COUNT)
            await asyncio.sleep(0.2)
            served.looked.clear()

            for i in (3, 5):  # two updates before the writer's next pass
                key = ("ns", f"p{i}")
                statuses[key] = found(i, Accepted.TARGET_NOT_FOUND)
                writer.publish(Findings(policies=dict(statuses), changed_policies=frozenset([key])))
            await until(lambda: len(server.patches) == POLICY_COUNT + 2)
            assert sorted(server.patches[POLICY_COUNT:]) == ["p3", "p5"]

            with server.lock:  # someone else's status
                server.objects[("ns", "p7")]["status"] = {"ancestors": []}
            stored_anew(("ns", "p7"))
            await until(lambda: len(server.patches) == POLICY_COUNT + 3)
            assert server.patches[-1] == "p7"
            await asyncio.sleep(0.2)
            assert served.looked == {("ns", "p3"), ("ns", "p5"), ("ns", "p7")}
        finally:
            task.cancel()

    asyncio.run(run())


def test_a_new_leader_looks_at_every_object_once() -> None:
    server, registry = FakeServer(throttle=0), CollectorRegistry()
    served = {k: dict(v) for k, v in server.objects.items()}
    leading = [True]
    writer = StatusWriter(
        server, lambda r: served, server.stored, lambda: leading[0], registry, CONCURRENCY
    )

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        try:
            writer.publish(Findings(policies=every_found()))
            await until(lambda: len(server.patches) == POLICY_COUNT)
            leading[0] = False
            writer.poke()
            await asyncio.sleep(0.2)
            with server.lock:  # what another leader wrote meanwhile (its own idea of them)
                for i in (1, 2):
                    server.objects[("ns", f"p{i}")]["status"] = {"ancestors": []}
            leading[0] = True
            writer.poke()  # as the elector does when leadership comes back
            await until(lambda: len(server.patches) == POLICY_COUNT + 2)
            await asyncio.sleep(0.2)
            assert sorted(server.patches[POLICY_COUNT:]) == ["p1", "p2"]
        finally:
            task.cancel()

    asyncio.run(run())
