"""Random but well-formed xDS clients against the real server (hypothesis state machine).

Streams of both variants send whatever requests hypothesis makes up (known and unknown
types, wildcards, names too long or too many, stale and current nonces, NACKs, nodes that
change or are too big) while the config changes under them. Whatever they send: no exception
escapes the server (a stream ends OK, cancelled, or with the status of the bound it broke),
nothing stays behind once they are gone, and an honest client on the same server converges on
the latest config. Small limits, so the bounds are met often.

`make test` runs a few dozen short sequences; `make fuzz` runs thousands of longer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.server.harness import Server, serving, snapshot
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import PUSH_ORDER
from xdscp.server.admission import Limits
from xdscp.server.stream import Request

T = TypeVar("T")
LIMITS = Limits(
    node_id_length=12,
    node_metadata_bytes=40,
    name_length=128,
    names_per_request=8,
    names_per_stream=12,
    unknown_types=2,
)
# How a stream may end: by the client, or by the server over a bound or for its node.
ENDINGS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
}
# grpc.aio's client reports this instead of the server's status when a write races the
# server ending the stream (grpc/grpc#36066): the client's view, not the server's doing.
CLIENT_WRITE_RACE = (grpc.StatusCode.INTERNAL, "Internal error from Core")
DEADLINE = 20


class Escaped(logging.Handler):
    """What grpc.aio logs when a servicer raises: an exception escaped the server."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


ESCAPED = Escaped()

# `make fuzz` sets XDSCP_FUZZ_EXAMPLES; `make test` runs a bounded few.
EXAMPLES = int(os.environ.get("XDSCP_FUZZ_EXAMPLES", "20"))
STEPS = 30 if EXAMPLES <= 20 else 100
PHASES = tuple(Phase) if EXAMPLES > 20 else (Phase.explicit, Phase.reuse, Phase.generate)

types = st.sampled_from(
    [*PUSH_ORDER, *PUSH_ORDER, *PUSH_ORDER, "type.googleapis.com/a.B", "type.googleapis.com/c.D"]
)
names = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "*", ""]), max_size=4)
versions = st.sampled_from(["", "v", "0123456789abcdef"])
# At most one thing a client may not send, in about one request in six: streams live long
# enough to build up state, and every bound is met now and then.
POISONS = (
    "long name",
    "long version",
    "long type",
    "too many names",
    "long node id",
    "long node cluster",
    "big node metadata",
    "another node",
)
poisons = st.sampled_from([*[None] * 40, *POISONS])
NODE_POISONS = ("long node", "big node", "another node")
OVER = "x" * (LIMITS.name_length + 1)


@dataclass(frozen=True)
class RequestSpec:
    """One request, in either variant; `answer`: with the nonce (and in SotW the version) of
    the last response of its type, else made up."""

    type_url: str
    names: list[str]
    others: list[str]  # delta: unsubscribed
    initial: dict[str, str]  # delta: initial_resource_versions
    version: str
    answer: bool
    nack: bool
    with_node: bool
    poison: str | None

    def build(self, client: Client) -> Request:
        type_url = "t" * 129 if self.poison == "long type" else self.type_url
        nonce = client.nonces.get(type_url, "") if self.answer else self.version
        names = self.names
        if self.poison == "long name":
            names = [*names, OVER]
        if self.poison == "too many names":
            names = [*names, *(f"m{i}" for i in range(LIMITS.names_per_request + 1))]
        request: Request
        if client.delta:
            initial = {**self.initial, "v": OVER} if self.poison == "long version" else self.initial
            request = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=names,
                resource_names_unsubscribe=self.others,
                initial_resource_versions=initial,
                response_nonce=nonce,
            )
        else:
            version = client.versions.get(type_url, self.version) if self.answer else self.version
            request = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                resource_names=names,
                version_info=OVER if self.poison == "long version" else version,
                response_nonce=nonce,
            )
        if self.nack:
            request.error_detail.message = "rejected"
        # As Envoy does, a node on a stream's first request.
        if self.with_node or not client.sent or (self.poison or "").startswith(NODE_POISONS):
            node = request.node
            node.id, node.cluster = "node-1", "test"
            if self.poison == "long node id":
                node.id = "n" * (LIMITS.node_id_length + 1)
            elif self.poison == "long node cluster":
                node.cluster = "c" * (LIMITS.node_id_length + 1)
            elif self.poison == "big node metadata":
                node.metadata.fields["pad"].string_value = "p" * LIMITS.node_metadata_bytes
            elif self.poison == "another node":
                node.id = "node-2"
        return request


requests = st.builds(
    RequestSpec,
    type_url=types,
    names=names,
    others=names,
    initial=st.dictionaries(st.sampled_from(["a", "b", "z"]), versions, max_size=2),
    version=versions,
    answer=st.booleans(),
    nack=st.booleans(),
    with_node=st.booleans(),
    poison=poisons,
)


class Loop:
    """One event loop in a thread: the state machine's steps are synchronous."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(DEADLINE)

    def call(self, function: Callable[[], T]) -> T:
        """`function()` on the loop's thread, as everything touching the server runs."""

        async def call() -> T:
            return function()

        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE)
        self.loop.close()


class Client:
    """One client: requests go out as written; a task reads responses and how the stream
    ended. A request after the server ended it opens a new stream, as Envoy reconnects."""

    def __init__(self, channel: grpc.aio.Channel, delta: bool) -> None:
        self.stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self.delta = delta
        self.endings: list[tuple[grpc.StatusCode, str]] = []
        self._open()

    def _open(self) -> None:
        stub = self.stub
        self.call = (
            stub.DeltaAggregatedResources() if self.delta else stub.StreamAggregatedResources()
        )
        self.nonces: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.sent = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for response in self.call:
                self.nonces[response.type_url] = response.nonce
                version = response.system_version_info if self.delta else response.version_info
                self.versions[response.type_url] = version
        except grpc.aio.AioRpcError as err:
            self.endings.append((err.code(), err.details() or ""))
            return
        except asyncio.CancelledError:
            self.endings.append((grpc.StatusCode.CANCELLED, "closed"))
            return
        self.endings.append((await self.call.code(), ""))

    async def send(self, request: Request) -> None:
        if self.reader.done():
            self._open()
        self.sent += 1
        # Ended meanwhile: the reader records how.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await self.call.write(request)

    async def close(self) -> None:
        self.call.cancel()
        await self.reader


class Honest:
    """A client that asks for every cluster and ACKs every response, as Envoy does."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self.call = stub.StreamAggregatedResources()
        self.version = ""
        self.reader = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        request = discovery_pb2.DiscoveryRequest(type_url=CDS)
        request.node.id, request.node.cluster = "honest", "test"
        await self.call.write(request)
        async for response in self.call:
            self.version = response.version_info
            ack = discovery_pb2.DiscoveryRequest(
                type_url=CDS, version_info=response.version_info, response_nonce=response.nonce
            )
            await self.call.write(ack)


class AdsFuzz(RuleBasedStateMachine):
    streams = Bundle("streams")

    def __init__(self) -> None:
        super().__init__()
        self.clusters = {"a": 1}
        self.runs = LOOP.run
        ESCAPED.records.clear()
        self.server, self.channel, self.honest = self.runs(self._start())
        self.clients: list[Client] = []

    async def _start(self) -> tuple[Server, grpc.aio.Channel, Honest]:
        self._serving = serving(snapshot(self.clusters), LIMITS)
        server = await self._serving.__aenter__()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        return server, channel, Honest(channel)

    @initialize(target=streams)
    def sotw_stream(self) -> Client:
        return self._open(False)

    @initialize(target=streams)
    def delta_stream(self) -> Client:
        return self._open(True)

    @rule(target=streams, delta=st.booleans())
    def open_stream(self, delta: bool) -> Client:
        return self._open(delta)

    def _open(self, delta: bool) -> Client:
        client = LOOP.call(lambda: Client(self.channel, delta))
        self.clients.append(client)
        return client

    @rule(client=streams, requests=st.lists(requests, min_size=1, max_size=6))
    def send(self, client: Client, requests: list[RequestSpec]) -> None:
        """Requests of the stream's variant, as fast as it takes them."""
        for spec in requests:
            self.runs(client.send(spec.build(client)))

    @rule(client=consumes(streams))
    def close_stream(self, client: Client) -> None:
        self.runs(client.close())

    @precondition(lambda self: len(self.clusters) < 6)
    @rule(name=st.sampled_from("abcdef"), timeout=st.integers(1, 3))
    def change_config(self, name: str, timeout: int) -> None:
        self.clusters[name] = timeout
        LOOP.call(lambda: self.server.cache.set(snapshot(self.clusters)))

    @rule(name=st.sampled_from("abcdef"))
    def remove_cluster(self, name: str) -> None:
        self.clusters.pop(name, None)
        LOOP.call(lambda: self.server.cache.set(snapshot(self.clusters)))

    @invariant()
    def no_stream_ended_by_an_escaped_exception(self) -> None:
        assert not ESCAPED.records, [r.getMessage() for r in ESCAPED.records]
        for client in self.clients:
            for code, details in client.endings:
                assert code in ENDINGS or (code, details) == CLIENT_WRITE_RACE, (code, details)
        assert not self.honest.reader.done() or self.honest.reader.exception() is None

    def teardown(self) -> None:
        try:
            self.runs(self._converged())
            for client in self.clients:
                self.runs(client.close())
            self.runs(self._nothing_left())
        finally:
            self.runs(self._stop())

    async def _converged(self) -> None:
        """The honest client holds the latest clusters, however the others behaved."""
        current = self.server.cache.get("default")
        assert current is not None
        expected = current.versions[CDS]
        for _ in range(DEADLINE * 100):
            if self.honest.version == expected:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"honest client at {self.honest.version}, latest {expected}")

    async def _nothing_left(self) -> None:
        """Once every client has gone, no stream is left and no response to names is kept
        (a handler lets go of its stream a moment after the stream leaves the fleet view)."""
        self.honest.reader.cancel()
        self.honest.call.cancel()
        current = self.server.cache.get("default")
        assert current is not None
        for attempt in range(DEADLINE * 10):
            if attempt % 10 == 9:
                gc.collect()  # seldom needed, and slow on a big heap
            if not self.server.fleet.describe() and not current._named:
                return
            await asyncio.sleep(0.1)
        assert self.server.fleet.describe() == []
        assert not current._named, len(current._named)

    async def _stop(self) -> None:
        await self.channel.close()
        await self._serving.__aexit__(None, None, None)


LOOP: Loop


@pytest.fixture(scope="module", autouse=True)
def loop() -> Iterator[None]:
    global LOOP
    LOOP = Loop()
    grpc_log = logging.getLogger("grpc")
    grpc_log.addHandler(ESCAPED)
    try:
        yield
    finally:
        grpc_log.removeHandler(ESCAPED)
        LOOP.close()


AdsFuzz.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    print_blob=True,
    # Shrinking a failure takes minutes: `make test` reports it as found (with the blob to
    # reproduce it); `make fuzz` shrinks it.
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
test_ads_fuzz = AdsFuzz.TestCase
