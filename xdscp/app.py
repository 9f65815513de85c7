"""Composition root: each CLI verb is one function here, wiring the stages together."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import signal
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xdscp import heap, looplag, render, statustable
from xdscp.cache import SnapshotCache
from xdscp.envoyrules import violations
from xdscp.errors import UserError
from xdscp.gatewaystatus import CONTROLLER
from xdscp.metrics import Metrics
from xdscp.model.problems import Problem
from xdscp.pipeline import Pipeline, policy_warnings
from xdscp.resourcetypes import CLUSTER, SECRET
from xdscp.served import Served, Sink
from xdscp.server.admin import start_admin
from xdscp.server.admission import BOUNDS, PACE, Limits
from xdscp.server.ads import DEFAULT_MAX_MESSAGE_BYTES, AdsServicer, start_server
from xdscp.server.auth import TlsConfig
from xdscp.server.fleet import Fleet
from xdscp.sources import Update
from xdscp.sources.files import REMOVAL_GRACE_SECONDS, SUFFIXES, FileSource
from xdscp.sources.kubernetes import KubernetesConfig, KubernetesSource
from xdscp.sources.kubernetes.deployer import Deployer
from xdscp.sources.kubernetes.proxy import DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS, DeployerConfig
from xdscp.sources.kubernetes.statussink import StatusSink
from xdscp.translate import Options, Translation, translate
from xdscp.verify import Check, compare, dynamic_clusters, dynamic_secrets

log = logging.getLogger("xdscp")
__all__ = [
    "BOUNDS",
    "CONTROLLER",
    "DEFAULT_IMAGE",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_XDS_ADDRESS",
    "PACE",
    "DeployerConfig",
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
    controller_name: str = CONTROLLER  # serve the Gateways of the GatewayClasses naming it
    deployer: DeployerConfig | None = None  # Kubernetes mode: an Envoy for each Gateway


async def serve(config: ServeConfig) -> None:
    metrics, fleet, cache = Metrics(), Fleet(), SnapshotCache()
    options = Options(
        config.listener_address,
        config.local_cluster,
        config.controller_name,
        # In Kubernetes a Gateway of a class that does not exist is no one's yet.
        undeclared_classes=config.kubernetes is None,
    )
    pipeline = Pipeline(cache, metrics, options)
    source: KubernetesSource | FileSource
    sinks: list[Sink] = []  # where the findings of each update served go
    if config.kubernetes:
        source = KubernetesSource(config.kubernetes)
        status = StatusSink(source, metrics.registry, config.controller_name)
        sinks.append(status)
        if config.deployer is not None:
            sinks.append(Deployer(source, config.deployer, lambda: status.leading))
    else:
        source = FileSource(config.paths, grace=REMOVAL_GRACE_SECONDS)
    # Listen first (liveness, and Envoys may connect), serve nothing before the first full view:
    # with no snapshot in the cache a stream waits, and /readyz says 503.
    server, xds_port = await start_server(
        AdsServicer(
            cache,
            fleet,
            metrics,
            config.limits,
            verdicts=lambda *answer: _publish(pipeline.verdict(*answer), sinks),
        ),
        config.xds_address,
        max_message_bytes=config.max_message_bytes,
        max_concurrent_streams=config.max_concurrent_streams,
        tls=config.tls,
    )
    try:
        admin, admin_port = await start_admin(
            config.admin_host,
            config.admin_port,
            served=lambda: pipeline.served,
            fleet=fleet,
            cache=cache,
            metrics=metrics,
        )
    except BaseException:  # the admin port is taken: stop gRPC before the loop closes
        await server.stop(grace=None)
        raise
    updates = source.updates()
    _publish(pipeline.apply(await anext(updates)), sinks)
    log.info(
        "serving xDS on port %d (%s), admin on %s:%d",
        *(xds_port, transport(config.tls), config.admin_host, admin_port),
    )
    if config.ready_file:
        config.ready_file.write_text(json.dumps({"xds_port": xds_port, "admin_port": admin_port}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_follow(updates, pipeline, sinks))]
    tasks.append(asyncio.create_task(looplag.watch(metrics.loop_lag)))
    tasks += [asyncio.create_task(sink.run()) for sink in sinks]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        # Wait for them: a status sink hands its Lease over to the other replicas.
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop(grace=1)
        await admin.cleanup()


def transport(tls: TlsConfig | None) -> str:
    """How Envoys reach the xDS port, as the startup line says it."""
    if tls is None:
        return "plaintext"
    return "mTLS, client certificates required" if tls.client_ca else "TLS"


async def _follow(updates: AsyncIterator[Update], pipeline: Pipeline, sinks: list[Sink]) -> None:
    async for update in updates:
        _publish(pipeline.apply(update), sinks)


def _publish(served: Served | None, sinks: list[Sink]) -> None:
    if served is None:
        return  # nothing served yet: translating the first view failed
    for sink in sinks:
        sink.publish(served.findings)
    heap.settle(served)


def load(paths: tuple[Path, ...]) -> Update:
    return FileSource(paths).load()


def existing(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    """The paths a one-shot verb reads; a typo'd one is an error, not an empty input."""
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
        if path.is_dir() and not any(p.suffix in SUFFIXES for p in path.rglob("*") if p.is_file()):
            raise UserError(f"{path}: no {', '.join(SUFFIXES)} files in this directory")
    return paths


@dataclass(frozen=True)
class Findings:
    """What `xdscp validate` reports. An error: xdscp refuses the object (or the file) as
    written and keeps serving its last good version. A warning: the object is served as
    written, but may not do what was meant (a missing target or backend, a part that does not
    apply to its target, a kind xdscp does not read)."""

    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    def __bool__(self) -> bool:
        return bool(self.errors or self.warnings)


def findings(paths: tuple[Path, ...]) -> Findings:
    update = load(existing(paths))
    translation = translate(update.resources)
    found = sorted(
        (
            *update.problems,
            *translation.problems,
            *policy_warnings(translation.statuses.values(), update.resources),
            *_envoy_rule_problems(translation),
        )
    )
    return Findings(tuple(p for p in found if not p.warning), tuple(p for p in found if p.warning))


def validate(paths: tuple[Path, ...]) -> list[str]:
    """Every error in the files (warnings aside), as `xdscp validate` prints them."""
    return [str(p) for p in findings(paths).errors]


def _envoy_rule_problems(translation: Translation) -> Iterator[Problem]:
    """What Envoy would refuse of the translation (serve holds it back): the first rule each
    resource breaks, named by the resource and its field."""
    for type_url in translation.resources:
        for name, message in translation.messages(type_url).items():
            for path, rule in itertools.islice(violations(message), 1):
                kind = message.DESCRIPTOR.name
                yield Problem("translate", kind, "", name, path, f"Envoy would refuse it: {rule}")


def verify(admin: str, paths: tuple[Path, ...]) -> list[Check]:
    """Check a live Envoy's clusters and SDS secrets against what the files translate to.

    Envoy shows private keys redacted; so does the expected side (see verify.as_envoy_shows).
    """
    translation = translate(load(existing(paths)).resources)
    dump = _config_dump(admin)

    def expected(type_url: str) -> dict[str, dict[str, Any]]:
        return {n: render.message_dict(m) for n, m in translation.messages(type_url).items()}

    return compare(expected(CLUSTER), dynamic_clusters(dump)) + compare(
        expected(SECRET), dynamic_secrets(dump)
    )


def envoy_clusters(admin: str) -> dict[str, dict[str, Any]]:
    """Envoy's dynamic active clusters by name, from config_dump as the guide fetches it."""
    return dynamic_clusters(_config_dump(admin))


def _config_dump(admin: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{admin}/config_dump?include_eds", method="POST")
    dump: dict[str, Any] = _admin_json(request, "Envoy's admin (verify --admin)")
    return dump


def status_table(admin: str) -> str:
    request = urllib.request.Request(f"{admin}/status")
    return statustable.table(_admin_json(request, "xdscp's admin (status --admin)"))


def _admin_json(request: urllib.request.Request, what: str) -> Any:
    """The JSON an admin endpoint answers; a UserError that says why when there is none."""
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise UserError(f"{url}: HTTP {err.code} {err.reason}: is this {what}?") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        reason = getattr(reason, "strerror", None) or reason
        raise UserError(f"cannot reach {what} at {url}: {reason}") from None
    except ValueError:
        raise UserError(f"{url} did not answer JSON: is this {what}?") from None


def render_files(
    paths: tuple[Path, ...],
    output: str,
    explain: bool,
    options: Options,
    show_secrets: bool = False,
) -> str:
    update = load(existing(paths))
    translation = translate(update.resources, options)
    return render.dumps(
        render.document(translation, update.problems, explain, show_secrets), output
    )
