"""Kubernetes mode: objects from an API server's watches (status is written back by a sink,
statussink.py).

Each (resource, namespace) pair gets a reflector thread; their events land in one store on the
event loop. A change after a quiet spell is served at once; a burst of events becomes one
Update per few milliseconds, built from the store as it stands, so a relist is never served
half-applied. Until every scope has been
listed once nothing is served: an empty view would wipe every Envoy's clusters.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Mapping

from xdscp.model.resources import Key
from xdscp.sources import Update
from xdscp.sources.kubernetes.api import JSON, Api
from xdscp.sources.kubernetes.config import KubernetesConfig, client_configuration
from xdscp.sources.kubernetes.kinds import WATCHED, WITH_STATUS, Resource
from xdscp.sources.kubernetes.reflector import Event, Reflector, Scope
from xdscp.sources.kubernetes.store import Store

log = logging.getLogger("xdscp.kubernetes")


class KubernetesSource:
    def __init__(self, settings: KubernetesConfig) -> None:
        self.settings = settings
        self.lease = settings.lease()
        self.configuration = client_configuration(settings.kubeconfig)
        self._scopes = watch_scopes(settings.namespaces)
        self.store = Store(self._scopes)
        # The objects whose status xdscp writes, as in the last Update handed out.
        self.served: dict[Resource, Mapping[Key, JSON]] = {}
        self._stop = threading.Event()

    async def updates(self, debounce_ms: int = 10) -> AsyncIterator[Update]:
        """The first full view once every scope is listed, then one per burst of changes: a
        change after a quiet spell at once (with whatever arrived beside it), then at most one
        view per `debounce_ms` while changes keep coming."""
        self._start_reflectors(asyncio.get_running_loop())
        last = -math.inf
        try:
            while True:
                await self.store.changed.wait()
                # The events handed over with this one are applied first either way.
                await asyncio.sleep(max(0.0, last + debounce_ms / 1000 - time.monotonic()))
                self.store.changed.clear()
                last = time.monotonic()
                if self.store.synced:
                    self.served = {r: self.store.objects(r) for r in WITH_STATUS}
                    yield self.store.update()
        finally:
            self._stop.set()

    def _start_reflectors(self, loop: asyncio.AbstractEventLoop) -> None:
        def emit(event: Event) -> None:
            try:
                loop.call_soon_threadsafe(self.store.apply, event)
            except RuntimeError:  # the loop has closed: xdscp is shutting down
                self._stop.set()

        for scope in self._scopes:
            # One client per thread: a watch holds its connection for minutes.
            reflector = Reflector(Api(self.configuration), scope, emit, self._stop)
            threading.Thread(target=reflector.run, name=f"watch {scope}", daemon=True).start()


def watch_scopes(namespaces: tuple[str, ...]) -> list[Scope]:
    """Each kind in each namespace (every namespace: None); a cluster-scoped kind (Node) once."""
    chosen: tuple[str | None, ...] = tuple(dict.fromkeys(namespaces)) or (None,)
    return list(
        dict.fromkeys(
            Scope(resource, ns if resource.namespaced else None)
            for resource in WATCHED
            for ns in chosen
        )
    )
