"""Status written back to the API server (BackendConfigPolicies', Gateways', HTTPRoutes'): a
sink the composition root wires beside the Kubernetes source (it reads the source's store,
never the pipeline)."""

from __future__ import annotations

import asyncio
import copy
import logging

from prometheus_client import CollectorRegistry, Gauge

from xdscp.gatewaystatus import CONTROLLER
from xdscp.served import Findings
from xdscp.sources.kubernetes.api import Api
from xdscp.sources.kubernetes.lease import LeaderElector
from xdscp.sources.kubernetes.source import KubernetesSource
from xdscp.sources.kubernetes.writer import CONCURRENCY, StatusWriter

log = logging.getLogger("xdscp.kubernetes")


class StatusSink:
    """Elects a leader among the replicas; while leading, keeps every status xdscp writes
    true."""

    def __init__(
        self, source: KubernetesSource, registry: CollectorRegistry, controller: str = CONTROLLER
    ) -> None:
        # One connection per write in flight (the client's default pool is 5 per core).
        configuration = copy.deepcopy(source.configuration)
        configuration.connection_pool_maxsize = CONCURRENCY
        api = Api(configuration)
        self._leader = Gauge(
            "xdscp_leader", "1 while this replica writes status", registry=registry
        )
        self._writer = StatusWriter(
            api,
            lambda resource: source.served.get(resource, {}),
            source.store.objects,
            lambda: self._elector.leading,
            registry,
            controller=controller,
        )
        self._elector = LeaderElector(api, source.lease, self._leadership)
        source.store.on_status = self._writer.poke
        source.store.on_stored = lambda resource, key: self._writer.recheck(resource, (key,))

    @property
    def leading(self) -> bool:
        return self._elector.leading

    def publish(self, findings: Findings) -> None:
        self._writer.publish(findings)

    async def run(self) -> None:
        try:
            await asyncio.gather(self._elector.run(), self._writer.run())
        except Exception:  # a bug: say so, rather than leave status silently stale
            log.exception("status write-back stopped")
            raise

    def _leadership(self, leading: bool) -> None:
        self._leader.set(int(leading))
        self._writer.poke()
