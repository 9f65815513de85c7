"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Every replica serves xDS; only the Lease holder writes status, so replicas never fight over
it. The holder renews every `retry_period` and counts itself leader only while its last
renewal is younger than `renew_deadline`, which is shorter than the lease: it stops writing
before anyone else may take over. Others take the Lease once they have seen it unchanged for
`duration`, measured on their own clock (holders' clocks may disagree).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from xdscp.sources.kubernetes.api import JSON, Api, ApiError
from xdscp.sources.kubernetes.kinds import LEASES

log = logging.getLogger("xdscp.kubernetes")
CONFLICT, NOT_FOUND = 409, 404


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    identity: str  # unique per replica: the pod name
    name: str = "xdscp"
    duration: int = 15  # seconds: how long a silent holder keeps the Lease

    @property
    def renew_deadline(self) -> float:
        return self.duration * 2 / 3

    @property
    def retry_period(self) -> float:
        return self.duration / 7.5


class LeaderElector:
    def __init__(
        self, api: Api, config: LeaseConfig, on_change: Callable[[bool], None] = lambda _: None
    ) -> None:
        self.api, self.config, self._on_change = api, config, on_change
        self._renewed_at: float | None = None  # when the last successful renewal began
        self._observed: tuple[str, str] = ("", "")  # holder and renewTime, last seen
        self._observed_at = 0.0

    @property
    def leading(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and time.monotonic() - renewed < self.config.renew_deadline

    async def run(self) -> None:
        """Acquire or renew every retry period; release the Lease when cancelled."""
        was_leading, failures = False, 0
        try:
            while True:
                attempt = time.monotonic()
                try:
                    if await asyncio.to_thread(self._acquire_or_renew):
                        self._renewed_at = attempt
                    failures = 0
                except ApiError as err:
                    if err.status == CONFLICT:
                        log.debug("Lease %s: another replica was quicker", self._where)
                    else:  # one warning per outage, not one per retry
                        failures += 1
                        level = logging.WARNING if failures == 1 else logging.DEBUG
                        log.log(level, "Lease %s: %s", self._where, err)
                if self.leading != was_leading:
                    was_leading = self.leading
                    role = "became" if was_leading else "no longer"
                    log.info("%s the leader (Lease %s)", role, self._where)
                    self._on_change(was_leading)
                await asyncio.sleep(self.config.retry_period)
        finally:
            if self.leading:
                self._renewed_at = None
                await asyncio.to_thread(self._release)

    @property
    def _where(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    def _acquire_or_renew(self) -> bool:
        path = LEASES.path(self.config.namespace, self.config.name)
        now = _micro_time()
        try:
            lease = self.api.get(path)
        except ApiError as err:
            if err.status != NOT_FOUND:
                raise
            self.api.create(LEASES.path(self.config.namespace), self._lease({}, {}, now))
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        observed = (holder, str(spec.get("renewTime")))
        if observed != self._observed:
            self._observed, self._observed_at = observed, time.monotonic()
        duration = int(spec.get("leaseDurationSeconds") or self.config.duration)
        if holder not in ("", self.config.identity) and (
            time.monotonic() < self._observed_at + duration
        ):
            return False
        # Ours to renew, expired, or released. The resourceVersion makes this a compare-and-swap:
        # of two replicas taking over at once, one gets 409 Conflict.
        self.api.replace(path, self._lease(lease, spec, now))
        return True

    def _lease(self, lease: JSON, spec: JSON, now: str) -> JSON:
        ours = spec.get("holderIdentity") == self.config.identity
        transitions = int(spec.get("leaseTransitions") or 0)
        return {
            **lease,
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": lease.get("metadata")
            or {"name": self.config.name, "namespace": self.config.namespace},
            "spec": {
                "holderIdentity": self.config.identity,
                "leaseDurationSeconds": self.config.duration,
                "acquireTime": spec.get("acquireTime") if ours else now,
                "renewTime": now,
                "leaseTransitions": transitions if ours or not spec else transitions + 1,
            },
        }

    def _release(self) -> None:
        """Hand the Lease back on shutdown, so another replica takes over at once."""
        path = LEASES.path(self.config.namespace, self.config.name)
        try:
            lease = self.api.get(path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.config.identity:
                released = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
                self.api.replace(path, {**lease, "spec": released})
                log.info("released the Lease %s", self._where)
        except ApiError as err:
            log.warning("releasing the Lease %s failed: %s", self._where, err)


def _micro_time() -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, in UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
