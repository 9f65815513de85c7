"""What a translation gives: Envoy resources, what each node group is served, and status.

The seam to the snapshot: a translation made by a `Translator` from the one before says what
differs from it (`base`, `changed`, `changed_statuses`), so the next stage looks at nothing
else; an unchanged resource or status is the very same object as in that translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message

from xdscp.gatewaystatus import CONTROLLER, ClassStatus, GatewayStatus, RouteStatus
from xdscp.model.problems import Problem
from xdscp.model.resources import Key
from xdscp.resourcetypes import REGISTRY
from xdscp.status import FieldOrigin, PolicyStatus
from xdscp.translate.secrets import Memory


@dataclass(frozen=True)
class Options:
    # Where Gateway listeners bind. kgateway binds every address; tests and the demo use loopback.
    listener_address: str = "0.0.0.0"
    # The Service of the proxies themselves: its endpoints become the local cluster.
    local_cluster: Key | None = None
    # The GatewayClass controllerName whose Gateways are served (`serve --controller-name`).
    controller: str = CONTROLLER
    # Whether a Gateway of a class no object declares is served (files: yes; Kubernetes: no).
    undeclared_classes: bool = True


DEFAULTS = Options()


def tables() -> dict[str, Mapping[str, bytes]]:
    """One empty table per registered type."""
    return {t.url: {} for t in REGISTRY}


# The Envoy message of each type URL.
MESSAGES: dict[str, type[Message]] = {
    f"type.googleapis.com/{m.DESCRIPTOR.full_name}": m
    for m in (
        cluster_pb2.Cluster,
        endpoint_pb2.ClusterLoadAssignment,
        listener_pb2.Listener,
        route_pb2.RouteConfiguration,
        secret_pb2.Secret,
    )
}


def decode(type_url: str, body: bytes) -> Message:
    """A translated resource as an Envoy message again (a new object each time)."""
    return MESSAGES[type_url].FromString(body)


# The part of a translation one node group is served: resource names by type URL (a type left
# out: none of it; None: all of it).
Selection = dict[str, frozenset[str] | None]


@dataclass
class Translation:
    # Envoy resources serialized (translate.protos.encode) by type URL (every registered type
    # has a table), then by resource name: bytes, not messages, because a translator keeps
    # them (a upb message costs ~1.5 KB, its bytes a tenth). `message`/`messages` decode.
    resources: Mapping[str, Mapping[str, bytes]] = field(default_factory=tables)
    # What each referenced Secret's SDS resources were built from: the next translation's
    # last good version of it.
    secret_memory: Memory = field(default_factory=Memory)
    # Each policy's status, by policy key.
    statuses: Mapping[Key, PolicyStatus] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    gateway_statuses: list[GatewayStatus] = field(default_factory=list)
    route_statuses: list[RouteStatus] = field(default_factory=list)
    class_statuses: tuple[ClassStatus, ...] = ()
    # What each node group is served, by group key (xdscp.groups); a group not here is served
    # nothing. None: every group is served everything (a translation made by hand, in tests).
    # A group whose selection did not change since `base` keeps the very same frozensets.
    groups: dict[str, Selection] | None = None
    # Numbers the translations of one translator (0: one made alone).
    serial: int = 0
    # The translation (by serial) `changed` and `changed_statuses` are relative to; None: none.
    base: int | None = None
    # The names, by type URL, whose message is another object than in translation `base` (or
    # that were added or removed since). None: unknown (compare all).
    changed: Mapping[str, frozenset[str]] | None = None
    # The policies whose status is another object than in translation `base`. None: any.
    changed_statuses: frozenset[Key] | None = None
    # Which policy set which cluster field: walked only when asked (`render --explain`).
    provenance: Callable[[], list[FieldOrigin]] = list

    @property
    def origins(self) -> list[FieldOrigin]:
        return self.provenance()

    def message(self, type_url: str, name: str) -> Message | None:
        body = self.resources[type_url].get(name)
        return decode(type_url, body) if body is not None else None

    def messages(self, type_url: str) -> dict[str, Message]:
        return {n: decode(type_url, b) for n, b in self.resources[type_url].items()}
