"""Items 1 and 2: a full snapshot against the floor, and one policy changed among N.

Each measurement runs in a fresh process (`python -m bench.build WHAT N`) so that its memory
figures are its own; it prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench import floor, measure
from bench.fleet import Model
from xdscp.cache import SnapshotCache
from xdscp.model.resources import Resources
from xdscp.resourcetypes import CLUSTER, ENDPOINT, PUSH_ORDER, SHORT_NAMES, WILDCARD_BY_DEFAULT
from xdscp.server.delta import DeltaStream
from xdscp.server.sotw import SotwStream
from xdscp.snapshot import Snapshot
from xdscp.translate import Options, Translator, translate

LISTENER_PORT = 10080
OPTIONS = Options(listener_address="127.0.0.1")
REPEATS = 3
CHANGES = 7


def serialized(snapshot: Snapshot) -> Snapshot:
    """Every type's full state-of-the-world response, built as the first client would get it."""
    for type_url in PUSH_ORDER:
        names = None if type_url in WILDCARD_BY_DEFAULT else frozenset(snapshot.resources[type_url])
        snapshot.sotw(type_url, names)
    return snapshot


def full_snapshot(model: Model) -> Snapshot:
    """From every object: the view made afresh, as a restart makes it."""
    resources = Resources.of(model.objects.values())
    return serialized(Snapshot.build(translate(resources, OPTIONS)))


def run_floor_clusters(n: int) -> dict[str, Any]:
    return asdict(measure.cost(lambda: floor.clusters(n), REPEATS))


def run_floor_endpoints(n: int) -> dict[str, Any]:
    return asdict(measure.cost(lambda: floor.with_endpoints(n), REPEATS))


def run_snapshot(n: int) -> dict[str, Any]:
    model = Model(n, LISTENER_PORT)
    resources = model.resources()
    started = time.perf_counter()
    translation = translate(resources, OPTIONS)
    translated = time.perf_counter()
    snapshot = Snapshot.build(translation)
    built = time.perf_counter()
    serialized(snapshot)
    done = time.perf_counter()
    return {
        **asdict(measure.cost(lambda: full_snapshot(model), REPEATS)),
        "phases_seconds": {
            "translate": translated - started,
            "build": built - translated,
            "responses": done - built,
        },
        "matches_floor": _matches_floor(n, snapshot),
    }


def _matches_floor(n: int, snapshot: Snapshot) -> bool:
    ours = [r.body for t in (CLUSTER, ENDPOINT) for r in snapshot.resources[t].values()]
    return ours == floor.with_endpoints(n)


def run_incremental(n: int) -> dict[str, Any]:
    """One policy changed: model update, translate, build, set; and what a delta client gets."""
    model = Model(n, LISTENER_PORT)
    cache = SnapshotCache()
    translator = Translator(OPTIONS)  # as the server's pipeline keeps one
    previous = serialized(Snapshot.build(translator.translate(model.resources())))
    cache.set(previous)
    delta, sotw = _client(DeltaStream, previous), _client(SotwStream, previous)
    phases: dict[str, list[float]] = {"model": [], "translate": [], "build": [], "total": []}
    sent: dict[str, Any] = {}
    for k in range(CHANGES):
        i = (k * 7919 + n // 2) % n
        started = time.perf_counter()
        model.change(i)
        resources = model.resources()
        modelled = time.perf_counter()
        translation = translator.translate(resources)
        translated = time.perf_counter()
        snapshot = Snapshot.build(translation, previous)
        cache.set(snapshot)
        done = time.perf_counter()
        for name, value in (
            ("model", modelled - started),
            ("translate", translated - modelled),
            ("build", done - translated),
            ("total", done - modelled),
        ):
            phases[name].append(value)
        sent = {"delta": _sent(delta.on_snapshot(snapshot).responses, delta=True)}
        sent["sotw"] = _sent(_acked(sotw).on_snapshot(snapshot).responses, delta=False)
        previous = snapshot
    floor_bytes = sum(
        len(m.SerializeToString(deterministic=True))
        for m in (floor.cluster(n // 2), floor.load_assignment(n // 2))
    )
    return {
        "changes": CHANGES,
        "floor_bytes": floor_bytes,
        "median_seconds": {name: statistics.median(v) for name, v in phases.items()},
        "sent": sent,
    }


Client = DeltaStream | SotwStream


def _client(make: type[Client], snapshot: Snapshot) -> Client:
    """A stream subscribed as Envoy is (all clusters and listeners, their endpoints, routes)."""
    stream = make()
    node = base_pb2.Node(id="bench")
    for type_url in PUSH_ORDER:
        names = [] if type_url in WILDCARD_BY_DEFAULT else sorted(snapshot.resources[type_url])
        request: Any = (
            discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url, resource_names_subscribe=names, node=node
            )
            if make is DeltaStream
            else discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names, node=node)
        )
        stream.on_request(request, snapshot)
    return _acked(stream)


def _acked(stream: Client) -> Client:
    """A state-of-the-world client answers every response before the next one is sent."""
    for subscription in stream.subscriptions.values():
        subscription.in_flight = False
    return stream


def _sent(responses: list[bytes], *, delta: bool) -> dict[str, Any]:
    message: Any = (
        discovery_pb2.DeltaDiscoveryResponse if delta else discovery_pb2.DiscoveryResponse
    )
    by_type: dict[str, int] = {}
    for raw in responses:
        decoded = message.FromString(raw)
        by_type[SHORT_NAMES[decoded.type_url]] = len(decoded.resources)
    return {
        "bytes": sum(map(len, responses)),
        "responses": len(responses),
        "resources_by_type": by_type,
    }


RUNS = {
    "floor_clusters": run_floor_clusters,
    "floor_endpoints": run_floor_endpoints,
    "snapshot": run_snapshot,
    "incremental": run_incremental,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=sorted(RUNS))
    parser.add_argument("n", type=int)
    args = parser.parse_args()
    print(json.dumps(RUNS[args.what](args.n)))


if __name__ == "__main__":
    main()
