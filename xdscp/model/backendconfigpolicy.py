"""BackendConfigPolicy (gateway.kgateway.dev/v1alpha1): per-backend connection settings.

One class per spec block; the rules are those of kgateway's CRD, so a manifest means the
same here as on an API server with that CRD installed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictStr, model_validator

from xdscp.model.base import KubeObject, Spec
from xdscp.model.duration import Duration, DurationField
from xdscp.model.types import NonNegInt32, Port

# (group, kind) pairs a policy may target.
TARGET_KINDS = frozenset(
    {("", "Service"), ("gateway.kgateway.dev", "Backend"), ("networking.istio.io", "Hostname")}
)


def _at_least_one_second(value: Duration) -> Duration:
    if value.millis < 1000:
        raise ValueError("must be at least 1 second")
    return value


SecondsDuration = Annotated[DurationField, AfterValidator(_at_least_one_second)]


class TargetRef(Spec):
    group: StrictStr = Field(max_length=253)
    kind: StrictStr = Field(min_length=1, max_length=63)
    name: StrictStr = Field(min_length=1, max_length=253)

    @model_validator(mode="after")
    def _allowed_kind(self) -> TargetRef:
        if (self.group, self.kind) not in TARGET_KINDS:
            raise ValueError(
                "targetRefs may only reference Service, gateway.kgateway.dev Backend"
                f" or networking.istio.io Hostname, not {self.group or 'core'} {self.kind}"
            )
        return self


class TargetSelector(Spec):
    group: StrictStr = Field(max_length=253)
    kind: StrictStr = Field(min_length=1, max_length=63)
    match_labels: dict[StrictStr, StrictStr]


class TcpKeepalive(Spec):
    keep_alive_probes: NonNegInt32 | None = None
    keep_alive_time: SecondsDuration | None = None
    keep_alive_interval: SecondsDuration | None = None


class BackendConfigPolicySpec(Spec):
    target_refs: tuple[TargetRef, ...] | None = Field(default=None, min_length=1, max_length=16)
    target_selectors: tuple[TargetSelector, ...] | None = None
    connect_timeout: DurationField | None = None
    per_connection_buffer_limit_bytes: NonNegInt32 | None = None
    tcp_keepalive: TcpKeepalive | None = None


class BackendConfigPolicy(KubeObject):
    GROUP = "gateway.kgateway.dev"
    KIND = "BackendConfigPolicy"
    VERSIONS = ("v1alpha1",)

    spec: BackendConfigPolicySpec

    @property
    def fields_set(self) -> tuple[str, ...]:
        """The top-level spec fields this policy sets, in schema order (merging works on these)."""
        targeting = {"target_refs", "target_selectors"}
        return tuple(
            name
            for name in BackendConfigPolicySpec.model_fields
            if name not in targeting and getattr(self.spec, name) is not None
        )


class StaticHost(Spec):
    host: StrictStr = Field(min_length=1)
    port: Port


class StaticBackend(Spec):
    hosts: tuple[StaticHost, ...] = Field(min_length=1)


class BackendSpec(Spec):
    type: Literal["Static"] = "Static"
    static: StaticBackend


class Backend(KubeObject):
    GROUP = "gateway.kgateway.dev"
    KIND = "Backend"
    VERSIONS = ("v1alpha1",)

    spec: BackendSpec
