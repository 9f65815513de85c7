"""The deployer: an Envoy for each of xdscp's Gateways (proxy.py says what it is made of).

A sink beside the status writer: the findings of each update served name xdscp's Gateways
(the ones of its GatewayClasses); the leader applies each one's objects server-side with
xdscp's field manager, so a person's edits to other fields survive, and keeps the Gateway's
`status.addresses` as its Service says. The objects are owned by their Gateway: deleting the
Gateway deletes them (Kubernetes' garbage collector). Objects already applied are applied
again only when they change, or once a minute (one deleted by hand comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.served import Findings
from xdscp.sources.kubernetes.api import JSON, Api, ApiError
from xdscp.sources.kubernetes.kinds import GATEWAYS, Resource
from xdscp.sources.kubernetes.proxy import (
    DEFAULTS,
    GATEWAY_LABEL,
    MANAGED_BY,
    DeployerConfig,
    Parameters,
    addresses,
    manifests,
    parameters,
)
from xdscp.sources.kubernetes.source import KubernetesSource
from xdscp.sources.kubernetes.store import SOURCE

log = logging.getLogger("xdscp.kubernetes")
RESYNC_SECONDS = 5.0  # how often addresses are read back from the Services
REAPPLY_SECONDS = 60.0  # how often unchanged objects are applied again anyway

SERVICES = Resource("Service", "", "v1", "services")
_RESOURCES = {
    "ServiceAccount": Resource("ServiceAccount", "", "v1", "serviceaccounts"),
    "ConfigMap": Resource("ConfigMap", "", "v1", "configmaps"),
    "Deployment": Resource("Deployment", "apps", "v1", "deployments"),
    "Service": SERVICES,
}
ObjectKey = tuple[str, str, str]  # kind, namespace, name


class Deployer:
    def __init__(
        self, source: KubernetesSource, config: DeployerConfig, leading: Callable[[], bool]
    ) -> None:
        self.api = Api(source.configuration)
        self.config = config
        self._store = source.store
        self._leading = leading
        self._ours: tuple[Key, ...] = ()
        self._due = asyncio.Event()
        self._applied: dict[ObjectKey, JSON] = {}
        self._applied_at = 0.0
        self._reported: dict[Key, tuple[Problem, ...]] = {}

    def publish(self, findings: Findings) -> None:
        self._ours = tuple((s.namespace, s.name) for s in findings.gateways)
        self._due.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), RESYNC_SECONDS)
            self._due.clear()
            if not self._leading():
                self._applied.clear()  # a new leader applies everything once
                continue
            if time.monotonic() - self._applied_at > REAPPLY_SECONDS:
                self._applied.clear()
                self._applied_at = time.monotonic()
            try:
                await self._reconcile()
            except ApiError as err:
                log.warning("deploying proxies: %s", err)

    async def _reconcile(self) -> None:
        stored = self._store.objects(GATEWAYS)
        ours = [
            (key, gateway)
            for key in self._ours
            if (gateway := stored.get(key)) is not None
            and not (gateway.get("metadata") or {}).get("deletionTimestamp")
        ]
        for key, gateway in ours:
            params = await self._parameters(key, gateway)
            for wanted in manifests(gateway, params, self.config):
                await self._apply(wanted)
        # The Services' addresses: one list per namespace, of the deployer's Services only.
        services: dict[Key, JSON] = {}
        for namespace in sorted({key[0] for key, _ in ours}):
            query = (("labelSelector", f"{MANAGED_BY}=xdscp,{GATEWAY_LABEL}"),)
            listed = await asyncio.to_thread(self.api.get, SERVICES.path(namespace), query)
            for item in listed.get("items") or ():
                meta = item.get("metadata") or {}
                services[(namespace, str(meta.get("name")))] = item
        for key, gateway in ours:
            if (service := services.get(key)) is not None:
                await self._addresses(key, gateway, service)

    async def _parameters(self, key: Key, gateway: JSON) -> Parameters:
        """The Gateway's parameters; the defaults when it names none. A reference that is
        wrong, or a ConfigMap that does not validate, is reported by object and field and the
        defaults are used (the Gateway still gets its Envoy)."""
        ref = ((gateway.get("spec") or {}).get("infrastructure") or {}).get("parametersRef")
        problems: list[Problem] = []
        found = DEFAULTS
        if ref:
            where = (SOURCE, "Gateway", *key, "spec.infrastructure.parametersRef")
            if (ref.get("group", ""), ref.get("kind")) != ("", "ConfigMap"):
                problems.append(Problem(*where, 'must name a ConfigMap (group "")'))
            else:
                path = _RESOURCES["ConfigMap"].path(key[0], str(ref.get("name")))
                try:
                    config_map = await asyncio.to_thread(self.api.get, path)
                except ApiError as err:
                    problems.append(Problem(*where, f"ConfigMap {ref.get('name')}: {err}"))
                else:
                    loaded, problems = parameters(config_map, SOURCE)
                    found = loaded or DEFAULTS
        reported = tuple(problems)
        if self._reported.get(key) != reported:
            self._reported[key] = reported
            for problem in reported:
                log.warning("%s (using the default proxy parameters)", problem)
        return found

    async def _apply(self, wanted: JSON) -> None:
        """Apply one object, unless it was applied as it is now."""
        meta = wanted["metadata"]
        key = (str(wanted["kind"]), str(meta["namespace"]), str(meta["name"]))
        if self._applied.get(key) == wanted:
            return
        path = _RESOURCES[key[0]].path(key[1], key[2])
        await asyncio.to_thread(self.api.apply, path, wanted)
        self._applied[key] = wanted
        log.info("applied %s %s/%s", *key)

    async def _addresses(self, key: Key, gateway: JSON, service: JSON) -> None:
        found = addresses(service)
        current = (gateway.get("status") or {}).get("addresses") or []
        if found == current:
            return
        path = GATEWAYS.path(*key) + "/status"
        await asyncio.to_thread(self.api.merge_patch, path, {"status": {"addresses": found}})
        log.info("Gateway %s/%s: addresses %s", *key, [a["value"] for a in found])
