"""The xDS resource types xdscp serves, in one list: a new type is one entry here.

Everything that handles "each type" reads this list: the translation and the snapshot (one
table per type), the streams (wildcard default, push and removal order), the admin views and
metrics (short names), render (the document's key), the test clients and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


@dataclass(frozen=True)
class ResourceType:
    url: str
    short: str  # "cds": in metric labels, logs, /status and `xdscp status`
    key: str  # "clusters": the translation's table and render's document key
    # A first request that names nothing means "all of them" (the legacy wildcard).
    wildcard_by_default: bool
    # Lower goes first. Additions and updates: a secret before the clusters that use it, a
    # cluster before its endpoints, a listener before its routes. Removals: what uses a resource
    # goes before it (make before break).
    push_rank: int
    removal_rank: int
    # A resource's version also covers the same-named resource of this type: Envoy warms a
    # changed cluster until it gets its endpoints again, so they must look new to it.
    versioned_with: str | None = None


REGISTRY = (
    ResourceType(CLUSTER, "cds", "clusters", wildcard_by_default=True, push_rank=1, removal_rank=3),
    ResourceType(
        ENDPOINT,
        "eds",
        "endpoints",
        wildcard_by_default=False,
        push_rank=2,
        removal_rank=2,
        versioned_with=CLUSTER,
    ),
    ResourceType(
        LISTENER, "lds", "listeners", wildcard_by_default=True, push_rank=3, removal_rank=1
    ),
    ResourceType(ROUTE, "rds", "routes", wildcard_by_default=False, push_rank=4, removal_rank=0),
    # Upstream TLS certificates and CAs, by the names clusters give them (never wildcard).
    ResourceType(SECRET, "sds", "secrets", wildcard_by_default=False, push_rank=0, removal_rank=4),
)

BY_URL = {t.url: t for t in REGISTRY}
PUSH_ORDER = tuple(t.url for t in sorted(REGISTRY, key=lambda t: t.push_rank))
REMOVAL_ORDER = tuple(t.url for t in sorted(REGISTRY, key=lambda t: t.removal_rank))
SHORT_NAMES = {url: BY_URL[url].short for url in PUSH_ORDER}
WILDCARD_BY_DEFAULT = frozenset(t.url for t in REGISTRY if t.wildcard_by_default)
# State of the world: a response of these types carries the whole set (what it leaves out is
# removed); of the other types a response need carry only what changed. The protocol makes
# them the same types as those wildcard by default (listeners and clusters).
FULL_STATE = WILDCARD_BY_DEFAULT
