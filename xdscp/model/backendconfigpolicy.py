"""BackendConfigPolicy (gateway.kgateway.dev/v1alpha1): per-backend connection settings.

The spec's blocks live in `xdscp.model.policy`, one module each; this module is the kind, and
the static Backend it may target.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xdscp.model.base import OwnedObject, Spec
from xdscp.model.policy.connection import TcpKeepalive
from xdscp.model.policy.spec import TARGETING, BackendConfigPolicySpec
from xdscp.model.policy.targets import TARGET_KINDS, TargetRef, TargetSelector
from xdscp.model.service import HTTP2_PROTOCOLS
from xdscp.model.types import NonEmptyStr, Port


class BackendConfigPolicy(OwnedObject):
    GROUP = "gateway.kgateway.dev"
    KIND = "BackendConfigPolicy"
    VERSIONS = ("v1alpha1",)

    spec: BackendConfigPolicySpec

    @property
    def fields_set(self) -> tuple[str, ...]:
        """The top-level spec fields this policy sets, in schema order (merging works on these).

        Only what the user wrote counts: CRD defaults fill the inside of a block, never a block.
        """
        written = self.spec.model_fields_set - TARGETING
        return tuple(
            name
            for name in BackendConfigPolicySpec.model_fields
            if name in written and getattr(self.spec, name) is not None
        )


class StaticHost(Spec):
    host: NonEmptyStr
    port: Port


class StaticBackend(Spec):
    hosts: tuple[StaticHost, ...] = Field(min_length=1)
    app_protocol: (
        Literal["http2", "grpc", "grpc-web", "kubernetes.io/h2c", "kubernetes.io/ws"] | None
    ) = None

    @property
    def speaks_http2(self) -> bool:
        return self.app_protocol in HTTP2_PROTOCOLS


class BackendSpec(Spec):
    type: Literal["Static"] = "Static"
    static: StaticBackend


class Backend(OwnedObject):
    GROUP = "gateway.kgateway.dev"
    KIND = "Backend"
    VERSIONS = ("v1alpha1",)

    spec: BackendSpec


__all__ = [
    "TARGET_KINDS",
    "Backend",
    "BackendConfigPolicy",
    "BackendConfigPolicySpec",
    "TargetRef",
    "TargetSelector",
    "TcpKeepalive",
]
