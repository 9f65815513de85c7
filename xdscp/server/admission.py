"""What one xDS client may send, checked at the edge before a stream sees the request.

Anyone who can reach the xDS port controls every field of every request, so each field the
server keeps, logs or works on has a bound. A stream over one is ended; other streams never
notice. A refusal names the field, its size and the bound, never the client's bytes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from xdscp.groups import identify
from xdscp.logs import clip
from xdscp.resourcetypes import BY_URL
from xdscp.server.auth import refusal
from xdscp.server.stream import Request

# Every type URL xdscp serves (the longest is 67 characters) and every nonce it sends fit.
MIN_NAME_LENGTH = 128
INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@dataclass(frozen=True)
class Limits:
    node_id_length: int = 1024
    node_metadata_bytes: int = 64 * 1024
    name_length: int = 1024
    # An Envoy's EDS request names every cluster it has; a delta reconnect, every version.
    names_per_request: int = 50_000
    names_per_stream: int = 100_000
    unknown_types: int = 16
    # Not a bound but a pace: a stream sending more is read more slowly (PACE).
    names_per_second: int = 100_000

    def __post_init__(self) -> None:
        if self.name_length < MIN_NAME_LENGTH:
            raise ValueError(
                f"--max-name-length {self.name_length} is below {MIN_NAME_LENGTH}: "
                "every type URL and nonce must fit"
            )
        for flag, field in (*((b.flag, b.field) for b in BOUNDS.values()), PACE):
            if getattr(self, field) < 1:
                raise ValueError(f"{flag} must be at least 1")


@dataclass(frozen=True)
class Bound:
    """One of Limits' fields as a `serve` flag, what it counts, and how a stream over it ends."""

    field: str
    flag: str
    what: str
    code: grpc.StatusCode
    reason: str  # the label of xdscp_requests_rejected_total


BOUNDS = {
    b.field: b
    for b in (
        Bound(
            "node_id_length",
            "--max-node-id-length",
            "characters in the node id, and in the node cluster",
            INVALID,
            "node_id_too_long",
        ),
        Bound(
            "node_metadata_bytes",
            "--max-node-metadata-bytes",
            "bytes of node metadata (serialized)",
            INVALID,
            "node_metadata_too_large",
        ),
        Bound(
            "name_length",
            "--max-name-length",
            "characters in each resource name, version, nonce and type URL",
            INVALID,
            "name_too_long",
        ),
        Bound(
            "names_per_request",
            "--max-names-per-request",
            "resource names in one request (delta: subscribed, unsubscribed and initial versions)",
            EXHAUSTED,
            "too_many_names",
        ),
        Bound(
            "names_per_stream",
            "--max-names-per-stream",
            "resource names a stream holds over all its types: per type, those it subscribed "
            "or (delta) those it holds a version of, whichever are more",
            EXHAUSTED,
            "too_many_stream_names",
        ),
        Bound(
            "unknown_types",
            "--max-unknown-types",
            "distinct type URLs xdscp does not serve, on one stream (each logged once)",
            EXHAUSTED,
            "too_many_unknown_types",
        ),
    )
}


# The flag for Limits.names_per_second.
PACE = ("--max-names-per-second", "names_per_second")


class Pace:
    """How long a stream waits before its next request is handled: names come at most at the
    rate given, after a burst of a whole stream's worth (an Envoy's reconnect). A client that
    sends more waits, and gRPC's flow control holds it back; the others are served meanwhile."""

    def __init__(self, limits: Limits) -> None:
        self.rate, self.burst = limits.names_per_second, limits.names_per_stream
        self._allowance, self._at = float(self.burst), time.monotonic()

    def wait(self, request: Request) -> float:
        now = time.monotonic()
        self._allowance = min(self.burst, self._allowance + (now - self._at) * self.rate)
        self._at = now
        self._allowance -= _count(request)
        return max(0.0, -self._allowance / self.rate)


@dataclass(frozen=True)
class Rejection:
    """Why a stream ends: its status code, the metric's reason, and a message for the log and
    the client that gives sizes and bounds, never the client's bytes."""

    code: grpc.StatusCode
    reason: str
    message: str


class Admission:
    """One stream's gate: its node, fixed by its first request, and the unknown types seen."""

    def __init__(self, limits: Limits, identities: frozenset[str]) -> None:
        self.limits = limits
        self.identities = identities  # from the client certificate; empty without mTLS
        self.node: base_pb2.Node | None = None
        self._unknown_types: set[str] = set()

    def admit(self, request: Request) -> Rejection | None:
        """None if the stream may go on with `request`."""
        return (
            self._node(request)
            or self._names(request)
            or self._identity(request)
            or self._unknown_type(request.type_url)
        )

    def hold(self, names: int) -> Rejection | None:
        """None if a stream may hold this many names (counted after it took a request: at most
        one request's worth of work is done past the bound)."""
        return self._over("names_per_stream", names)

    def node_of(self, request: Request) -> base_pb2.Node:
        """The node a request speaks for: its own, or its stream's (Envoy sends it once)."""
        if request.HasField("node"):
            node: base_pb2.Node = request.node
            return node
        return self.node or base_pb2.Node()

    def _over(self, field: str, size: int) -> Rejection | None:
        limit: int = getattr(self.limits, field)
        if size <= limit:
            return None
        bound = BOUNDS[field]
        return Rejection(
            bound.code, bound.reason, f"{bound.what}: {size:,}, over {bound.flag} {limit:,}"
        )

    def _node(self, request: Request) -> Rejection | None:
        if not request.HasField("node"):
            return None
        node = request.node
        return self._over("node_id_length", max(len(node.id), len(node.cluster))) or self._over(
            "node_metadata_bytes", node.metadata.ByteSize()
        )

    def _names(self, request: Request) -> Rejection | None:
        # The count first: the longest name is looked for only among a bounded number.
        return self._over("names_per_request", _count(request)) or self._over(
            "name_length", max(map(len, _strings(request)), default=0)
        )

    def _identity(self, request: Request) -> Rejection | None:
        """With mTLS, every request's node must be one the certificate names. And no stream
        changes node after its first request: its node group was chosen for that one."""
        named = self.node_of(request)
        refused = refusal(named, self.identities)
        if refused:
            return Rejection(grpc.StatusCode.PERMISSION_DENIED, "permission_denied", refused)
        if self.node is None:
            self.node = named
        elif (named.id, named.cluster) != (self.node.id, self.node.cluster):
            return Rejection(
                grpc.StatusCode.PERMISSION_DENIED,
                "identity_changed",
                f"the stream opened as node {self.node.id!r} (cluster {self.node.cluster!r}) "
                f"and then named node {named.id!r} (cluster {named.cluster!r})",
            )
        elif request.HasField("node") and (group := identify(named).key) != (
            opened := identify(self.node).key
        ):
            # Its certificate was checked for the node it opened as, and so for that group.
            return Rejection(
                grpc.StatusCode.PERMISSION_DENIED,
                "group_changed",
                f"the stream opened in node group {clip(opened)!r} and then named {clip(group)!r}",
            )
        return None

    def _unknown_type(self, type_url: str) -> Rejection | None:
        if type_url in BY_URL or type_url in self._unknown_types:
            return None
        self._unknown_types.add(type_url)
        return self._over("unknown_types", len(self._unknown_types))


def _count(request: Request) -> int:
    if isinstance(request, discovery_pb2.DiscoveryRequest):
        return len(request.resource_names)
    return (
        len(request.resource_names_subscribe)
        + len(request.resource_names_unsubscribe)
        + len(request.initial_resource_versions)
    )


def _strings(request: Request) -> Iterable[str]:
    """Every string of a request that the server may keep or log."""
    common = (request.type_url, request.response_nonce)
    if isinstance(request, discovery_pb2.DiscoveryRequest):
        return itertools.chain(common, (request.version_info,), request.resource_names)
    versions = request.initial_resource_versions
    return itertools.chain(
        common,
        request.resource_names_subscribe,
        request.resource_names_unsubscribe,
        versions.keys(),
        versions.values(),
    )
