"""Items 1 and 2: a full snapshot against the floor, and one policy changed among N.

Each measurement runs in a fresh process (`python -m bench.build WHAT N`) so that its memory
figures are its own; it prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ParamSpec, TypeVar

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench import floor, measure
from bench.fleet import Model
from xdscp import pipeline as pipeline_module
from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.model.resources import Resources
from xdscp.pipeline import Pipeline
from xdscp.resourcetypes import CLUSTER, ENDPOINT, PUSH_ORDER, SHORT_NAMES, WILDCARD_BY_DEFAULT
from xdscp.server.delta import DeltaStream
from xdscp.server.sotw import SotwStream
from xdscp.snapshot import Snapshot, by_group
from xdscp.sources import Update
from xdscp.translate import Options, translate

LISTENER_PORT = 10080
OPTIONS = Options(listener_address="127.0.0.1")
REPEATS = 3
CHANGES = 7
P = ParamSpec("P")
R = TypeVar("R")


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
    ours = [r.body for t in (CLUSTER, ENDPOINT) for _, r in sorted(snapshot.resources[t].items())]
    return ours == floor.with_endpoints(n)


def run_incremental(n: int) -> dict[str, Any]:
    """One policy changed: the model updated, then the server's own path from it to the cache
    (Pipeline.apply: translate, build, cut the groups, findings, publish), each step timed
    where the pipeline calls it; and what a delta and a state-of-the-world client get."""
    model = Model(n, LISTENER_PORT)
    cache = SnapshotCache()
    pipeline = Pipeline(cache, Metrics(), OPTIONS)
    steps = _Steps(pipeline)
    first = pipeline.apply(Update(model.resources(), ()))
    assert first is not None
    previous = serialized(first.snapshot)
    delta, sotw = _client(DeltaStream, previous), _client(SotwStream, previous)
    phases: dict[str, list[float]] = defaultdict(list)
    sent: dict[str, Any] = {}
    for k in range(CHANGES):
        i = (k * 7919 + n // 2) % n
        started = time.perf_counter()
        model.change(i)
        resources = model.resources()
        modelled = time.perf_counter()
        served = pipeline.apply(Update(resources, ()))
        done = time.perf_counter()
        assert served is not None and served.snapshot is not previous
        took = steps.took
        build = took["snapshot"] + took["groups"] + took["publish"]
        for name, value in (
            ("model", modelled - started),
            *took.items(),
            ("build", build),  # from the translation to the cache
            ("findings", done - modelled - took["translate"] - build),  # and the rest
            ("total", done - modelled),
        ):
            phases[name].append(value)
        snapshot = served.snapshot
        sent = {"delta": _sent(delta.on_snapshot(snapshot).responses, delta=True)}
        sent["sotw"] = _sent(sotw.on_snapshot(snapshot).responses, delta=False)
        _acked(delta, snapshot)
        _acked(sotw, snapshot)
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


class _Steps:
    """How long the pipeline's last apply spent in each step, timed where it calls them (its
    translator, the module names it calls them by, the cache's publish)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.took: dict[str, float] = {}
        timed = {
            "by_group": self._timed("groups", by_group),
            # The class the pipeline builds with: a stand-in whose build is timed.
            "Snapshot": type(
                "Snapshot", (Snapshot,), {"build": self._timed("snapshot", Snapshot.build)}
            ),
        }
        for name, stand_in in timed.items():
            setattr(pipeline_module, name, stand_in)
        translator, cache = pipeline.translator, pipeline.cache
        setattr(translator, "translate", self._timed("translate", translator.translate))  # noqa: B010
        setattr(cache, "publish", self._timed("publish", cache.publish))  # noqa: B010

    def _timed(self, step: str, call: Callable[P, R]) -> Callable[P, R]:
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.took[step] = time.perf_counter() - started

        return timed


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
    return _acked(stream, snapshot)


def _acked(stream: Client, snapshot: Snapshot) -> Client:
    """The client answers every response, as Envoy does, before the next one is sent (both
    variants send nothing more to a stream until it has)."""
    if isinstance(stream, SotwStream):
        for subscription in stream.subscriptions.values():
            subscription.in_flight = False
        return stream
    for type_url, subscription in stream.subscriptions.items():
        for nonce in list(subscription.pending):
            ack = discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, response_nonce=nonce)
            stream.on_request(ack, snapshot)
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
