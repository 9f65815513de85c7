"""Untrusted xDS clients: a request over a bound ends its own stream with the status the
bound names, counted and logged once with its size (never its bytes), while a well-behaved
client on the same server keeps getting updates. Every bound at its default."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from tests.live import ROOT
from tests.server.harness import (
    Server,
    delta,
    names_of,
    node,
    run,
    serving,
    snapshot,
    sotw,
    stream,
)
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.resourcetypes import LISTENER as LDS
from xdscp.resourcetypes import ROUTE as RDS
from xdscp.server.admission import BOUNDS, Limits
from xdscp.server.stream import Request

LIMITS = Limits()
MIB = 1024 * 1024
# Far above any line xdscp writes itself, far below what the attacks send.
LONGEST_LINE = 2048
UNKNOWN = "type.googleapis.com/envoy.nothing.v3.Thing"


@asynccontextmanager
async def honest_client(server: Server) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A well-behaved client holding every cluster, as Envoy does. Yields `updated`: change
    the config, and return once this client has received the change and ACKed it."""
    clusters = {"a": 1}
    server.cache.set(snapshot(clusters))
    async with stream(server.port) as ads:
        await ads.send(sotw(CDS, with_node=True))
        held = await ads.recv()
        await ads.send(sotw(CDS, version=held.version_info, nonce=held.nonce))

        async def updated() -> None:
            clusters[f"c{len(clusters)}"] = 1
            server.cache.set(snapshot(clusters))
            response = await ads.recv()
            assert names_of(response, cluster_pb2.Cluster) == sorted(clusters)
            await ads.send(sotw(CDS, version=response.version_info, nonce=response.nonce))

        yield updated


def rejected(server: Server) -> dict[str, float]:
    """xdscp_requests_rejected_total by reason, as /metrics shows it (the reasons counted)."""
    (family,) = (
        m for m in server.metrics.registry.collect() if m.name == "xdscp_requests_rejected"
    )
    return {
        s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total") and s.value
    }


def names(count: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def with_node(request: Request, node_id: str = "node-1", cluster: str = "test") -> Request:
    request.node.id, request.node.cluster = node_id, cluster
    return request


def metadata_of(size: int) -> Request:
    request = sotw(CDS)
    request.node.CopyFrom(node())
    request.node.metadata.fields["blob"].string_value = "m" * size
    return request


@dataclass(frozen=True)
class Attack:
    delta: bool
    requests: Callable[[], list[Request]]
    code: grpc.StatusCode
    reason: str
    size: str  # how the size appears in the log line


OVER = LIMITS.names_per_request + 1
THIRD = LIMITS.names_per_stream // 3 + 1
ATTACKS = {
    "node id of 5 MiB": Attack(
        False,
        lambda: [with_node(sotw(CDS), "x" * 5 * MIB)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "node_id_too_long",
        f"{5 * MIB:,}",
    ),
    "node cluster over the bound, in a later delta request": Attack(
        True,
        lambda: [
            delta(CDS, with_node=True),
            with_node(delta(EDS), cluster="c" * (LIMITS.node_id_length + 1)),
        ],
        grpc.StatusCode.INVALID_ARGUMENT,
        "node_id_too_long",
        f"{LIMITS.node_id_length + 1:,}",
    ),
    "node metadata over the bound": Attack(
        False,
        lambda: [metadata_of(LIMITS.node_metadata_bytes)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "node_metadata_too_large",
        "over --max-node-metadata-bytes",
    ),
    "SotW request naming one name too many": Attack(
        False,
        lambda: [sotw(EDS, names(OVER), with_node=True)],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_names",
        f"{OVER:,}",
    ),
    "delta request subscribing one name too many": Attack(
        True,
        lambda: [delta(EDS, subscribe=names(OVER), with_node=True)],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_names",
        f"{OVER:,}",
    ),
    "delta reconnect holding one version too many": Attack(
        True,
        lambda: [delta(CDS, initial=dict.fromkeys(names(OVER), "v"), with_node=True)],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_names",
        f"{OVER:,}",
    ),
    "delta stream subscribing past the stream's bound, a third at a time": Attack(
        True,
        lambda: [
            delta(EDS, subscribe=names(THIRD, "a"), with_node=True),
            delta(EDS, subscribe=names(THIRD, "b")),
            delta(RDS, subscribe=names(THIRD, "c")),
        ],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_stream_names",
        f"{3 * THIRD:,}",
    ),
    "SotW stream naming a third of the stream's bound in each of three types": Attack(
        False,
        lambda: [
            sotw(EDS, names(THIRD, "a"), with_node=True),
            sotw(RDS, names(THIRD, "b")),
            sotw(LDS, names(THIRD, "c")),
        ],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_stream_names",
        f"{3 * THIRD:,}",
    ),
    "resource name over the bound": Attack(
        False,
        lambda: [sotw(EDS, ["a", "x" * (LIMITS.name_length + 1)], with_node=True)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "name_too_long",
        f"{LIMITS.name_length + 1:,}",
    ),
    "initial resource version over the bound": Attack(
        True,
        lambda: [delta(CDS, initial={"a": "v" * 10 * MIB}, with_node=True)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "name_too_long",
        f"{10 * MIB:,}",
    ),
    "SotW version over the bound": Attack(
        False,
        lambda: [sotw(CDS, version="v" * (LIMITS.name_length + 1), with_node=True)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "name_too_long",
        f"{LIMITS.name_length + 1:,}",
    ),
    "one distinct unknown type too many": Attack(
        False,
        lambda: [
            with_node(sotw(f"{UNKNOWN}{i}")) if i == 0 else sotw(f"{UNKNOWN}{i}")
            for i in range(LIMITS.unknown_types + 1)
        ],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_unknown_types",
        f"{LIMITS.unknown_types + 1:,}",
    ),
    "SotW stream changing its node": Attack(
        False,
        lambda: [sotw(CDS, with_node=True), with_node(sotw(EDS, ["a"]), "node-2")],
        grpc.StatusCode.PERMISSION_DENIED,
        "identity_changed",
        "'node-2'",
    ),
    "delta stream changing its node cluster": Attack(
        True,
        lambda: [delta(CDS, with_node=True), with_node(delta(EDS, ["a"]), cluster="other")],
        grpc.StatusCode.PERMISSION_DENIED,
        "identity_changed",
        "'other'",
    ),
    "stream changing the Gateway its node names": Attack(
        False,
        lambda: [sotw(CDS, with_node=True), gateway_named(sotw(EDS, ["a"]), "infra/internal")],
        grpc.StatusCode.PERMISSION_DENIED,
        "group_changed",
        "'gateway/infra/internal'",
    ),
}


def gateway_named(request: Request, gateway: str) -> Request:
    """The stream's own node id and cluster, now naming a Gateway: another node group."""
    with_node(request).node.metadata.fields["gateway"].string_value = gateway
    return request


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_request_over_a_bound_ends_only_its_own_stream(
    attack: Attack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xdscp")

    async def scenario() -> None:
        async with serving(None) as server, honest_client(server) as updated:
            async with stream(server.port, delta=attack.delta) as hostile:
                for request in attack.requests():
                    await hostile.send(request)
                    await updated()  # served between the attacker's requests too
                assert await hostile.ended() == attack.code
            counted = rejected(server)
            assert counted.pop(attack.reason) == 1
            assert counted.keys() <= {"unknown_type"}  # counted as they came, before the bound
            await updated()
            assert [s["variant"] for s in server.fleet.describe()] == ["sotw"]  # the honest one

    run(scenario)
    lines = [r.getMessage() for r in caplog.records]
    ended = [line for line in lines if "stream ended with" in line]
    assert len(ended) == 1, lines
    assert attack.code.name in ended[0] and attack.size in ended[0]
    assert max(map(len, lines)) < LONGEST_LINE


def test_unknown_types_are_logged_once_each_and_clipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xdscp")
    long_type = UNKNOWN + "x" * (LIMITS.name_length - len(UNKNOWN))

    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            await ads.send(sotw(long_type, with_node=True))
            for _ in range(20):
                await ads.send(sotw(long_type))
            await ads.send(sotw(CDS))
            assert (await ads.recv()).type_url == CDS  # the stream goes on
            assert server.metrics.rejected.labels("unknown_type")._value.get() == 21

    run(scenario)
    logged = [r.getMessage() for r in caplog.records if "is not served" in r.getMessage()]
    assert len(logged) == 1
    assert "more characters" in logged[0] and len(logged[0]) < LONGEST_LINE


def test_logs_and_status_clip_what_the_client_wrote(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xdscp")
    node_id = "n" * LIMITS.node_id_length  # allowed, but too long to print in full

    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server, stream(server.port) as ads:
            await ads.send(with_node(sotw(CDS), node_id))
            first = await ads.recv()
            await ads.send(
                sotw(CDS, version=first.version_info, nonce=first.nonce, error="e" * MIB)
            )
            await ads.send(sotw(LDS))
            assert (await ads.recv()).type_url == LDS
            (status,) = server.fleet.describe()
            assert status["node_id"].startswith("nnn") and len(status["node_id"]) < 600
            error = status["types"]["cds"]["error"]
            assert error.startswith("eee") and len(error) < 600

    run(scenario)
    lines = [r.getMessage() for r in caplog.records]
    assert any("NACK" in line for line in lines)
    assert max(map(len, lines)) < LONGEST_LINE


def test_nonces_ids_and_names_under_the_bounds_are_served() -> None:
    """Right at every bound is still fine: the bounds refuse only what is over them."""
    at_bound = "x" * LIMITS.name_length

    async def scenario() -> None:
        async with serving(snapshot({"a": 1})) as server:
            async with stream(server.port) as ads:
                request = sotw(EDS, ["a", at_bound, *names(LIMITS.names_per_request - 2)])
                await ads.send(with_node(request, "i" * LIMITS.node_id_length))
                loads = names_of(await ads.recv(), endpoint_pb2.ClusterLoadAssignment)
                assert loads == ["a"]
            async with stream(server.port, delta=True) as ads:
                counts = itertools.repeat(LIMITS.names_per_stream // 4, 4)
                for type_url, count in zip((CDS, EDS, LDS, RDS), counts, strict=True):
                    await ads.send(delta(type_url, names(count), with_node=True))
                    assert (await ads.recv()).type_url == type_url
            assert rejected(server) == {}

    run(scenario)


def test_readme_lists_every_bound_with_its_default() -> None:
    section = (ROOT / "README.md").read_text().split("### What an xDS client may send\n")[1]
    cells = [row.split("|") for row in section.splitlines() if row.startswith("| `--")]
    rows = {cell[1].strip(" `"): cell[2].strip(" `") for cell in cells}
    defaults = {bound.flag: str(getattr(LIMITS, field)) for field, bound in BOUNDS.items()}
    assert {flag: rows.get(flag) for flag in defaults} == defaults


def test_a_stream_sending_names_faster_than_its_pace_waits_and_others_do_not() -> None:
    """Past its burst, a stream's requests are handled at --max-names-per-second: never
    sooner (a lower bound, however loaded the machine), and nobody else waits for it."""
    pace = Limits(names_per_second=20_000, names_per_stream=2_000)
    requests, per_request = 6, 2_000

    async def scenario() -> float:
        async with (
            serving(None, pace) as server,
            honest_client(server) as updated,
            stream(server.port, delta=True) as fast,
        ):
            started = time.monotonic()
            for i in range(requests):
                names = [f"{i}-{j}" for j in range(per_request)]
                await fast.send(delta(EDS, subscribe=names, with_node=i == 0))
                await updated()  # the well-behaved client is served meanwhile
                await fast.send(delta(EDS, unsubscribe=names))
            await fast.send(delta(CDS))
            while (await fast.recv()).type_url != CDS:
                pass
            return time.monotonic() - started

    elapsed = asyncio.run(scenario())
    # 12 requests of 2,000 names each, 2,000 of them in the burst: 22,000 at 20,000/s.
    assert elapsed >= (2 * requests * per_request - 2_000) / 20_000
