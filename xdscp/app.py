"""Composition root: each CLI verb is one function here, wiring the stages together."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xdscp import render, statustable
from xdscp.cache import SnapshotCache
from xdscp.pipeline import Pipeline
from xdscp.resourcetypes import CLUSTER, SHORT_NAMES
from xdscp.server.admin import start_admin
from xdscp.server.admission import BOUNDS, Limits
from xdscp.server.ads import DEFAULT_MAX_MESSAGE_BYTES, AdsServicer, start_server
from xdscp.server.auth import TlsConfig
from xdscp.server.fleet import Fleet
from xdscp.server.metrics import Metrics
from xdscp.snapshot import Snapshot
from xdscp.sources import Update
from xdscp.sources.files import REMOVAL_GRACE_SECONDS, FileSource
from xdscp.sources.kubernetes import KubernetesConfig, KubernetesSource
from xdscp.translate import Options, translate
from xdscp.verify import Check, compare, dynamic_clusters

log = logging.getLogger("xdscp")
__all__ = [
    "BOUNDS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "KubernetesConfig",
    "Limits",
    "ServeConfig",
    "TlsConfig",
    "render_files",
    "serve",
    "status_table",
    "validate",
    "verify",
]


@dataclass(frozen=True)
class ServeConfig:
    paths: tuple[Path, ...]
    xds_address: str = "0.0.0.0:18000"
    admin_host: str = "127.0.0.1"
    admin_port: int = 9901
    listener_address: str = "0.0.0.0"
    local_cluster: tuple[str, str] | None = None  # the proxies' Service: see --local-cluster
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_concurrent_streams: int = 0
    limits: Limits = field(default_factory=Limits)  # what one xDS client may send
    ready_file: Path | None = None  # where to write the bound ports once serving
    tls: TlsConfig | None = None
    kubernetes: KubernetesConfig | None = None  # set: read an API server instead of paths


async def serve(config: ServeConfig) -> None:
    metrics, fleet, cache = Metrics(), Fleet(), SnapshotCache()
    pipeline = Pipeline(cache, metrics, Options(config.listener_address, config.local_cluster))
    source = (
        KubernetesSource(config.kubernetes)
        if config.kubernetes
        else FileSource(config.paths, grace=REMOVAL_GRACE_SECONDS)
    )
    # Listen first (liveness, and Envoys may connect), serve nothing before the first full view:
    # with no snapshot in the cache a stream waits, and /readyz says 503.
    server, xds_port = await start_server(
        AdsServicer(cache, fleet, metrics, config.limits),
        config.xds_address,
        max_message_bytes=config.max_message_bytes,
        max_concurrent_streams=config.max_concurrent_streams,
        tls=config.tls,
    )
    admin, admin_port = await start_admin(
        config.admin_host,
        config.admin_port,
        status=lambda: _status(pipeline, fleet, cache),
        policies=pipeline.describe,
        ready=lambda: pipeline.snapshot is not None,
        metrics=metrics,
    )
    updates = source.updates()
    pipeline.apply(await anext(updates))
    log.info("serving xDS on port %d, admin on %s:%d", xds_port, config.admin_host, admin_port)
    if config.ready_file:
        config.ready_file.write_text(json.dumps({"xds_port": xds_port, "admin_port": admin_port}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_follow(updates, pipeline))]
    if isinstance(source, KubernetesSource):
        tasks.append(asyncio.create_task(source.write_status(pipeline, metrics.registry)))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        # Wait for them: the status writer hands its Lease over to the other replicas.
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop(grace=1)
        await admin.cleanup()


def _status(pipeline: Pipeline, fleet: Fleet, cache: SnapshotCache) -> dict[str, Any]:
    """The admin /status document: the snapshot's versions, each group's, and every stream's."""
    snapshot = pipeline.snapshot
    return {
        "snapshot": snapshot.version if snapshot else "(none)",
        "versions": _versions(snapshot),
        "groups": {group: _versions(s) for group, s in sorted(pipeline.groups.items())},
        "streams": fleet.describe(cache.explain),
    }


def _versions(snapshot: Snapshot | None) -> dict[str, str]:
    return {SHORT_NAMES[t]: v for t, v in snapshot.versions.items()} if snapshot else {}


async def _follow(updates: AsyncIterator[Update], pipeline: Pipeline) -> None:
    async for update in updates:
        pipeline.apply(update)


def load(paths: tuple[Path, ...]) -> Update:
    return FileSource(paths).load()


def validate(paths: tuple[Path, ...]) -> list[str]:
    """Every problem in the files, as `xdscp validate` prints them."""
    update = load(paths)
    translation = translate(update.resources)
    return [str(p) for p in sorted((*update.problems, *translation.problems))]


def verify(admin: str, paths: tuple[Path, ...]) -> list[Check]:
    """Check a live Envoy's clusters against what the files translate to."""
    translation = translate(load(paths).resources)
    expected = {name: render.message_dict(c) for name, c in translation.resources[CLUSTER].items()}
    return compare(expected, envoy_clusters(admin))


def envoy_clusters(admin: str) -> dict[str, dict[str, Any]]:
    """Envoy's dynamic active clusters by name, from config_dump as the guide fetches it."""
    request = urllib.request.Request(f"{admin}/config_dump?include_eds", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dynamic_clusters(json.load(response))


def status_table(admin: str) -> str:
    with urllib.request.urlopen(f"{admin}/status", timeout=10) as response:
        return statustable.table(json.load(response))


def render_files(paths: tuple[Path, ...], output: str, explain: bool, options: Options) -> str:
    update = load(paths)
    translation = translate(update.resources, options)
    return render.dumps(render.document(translation, update.problems, explain), output)
