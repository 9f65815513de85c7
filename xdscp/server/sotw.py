"""State of the world: each response carries every resource of its type (or every one named).

Clusters and listeners go out whole every time: what a response leaves out is removed.
Endpoints, routes and secrets need not: once a client holds what it named, a response carries
only what changed since, or what it just named, versioned by all it then holds, as the
protocol allows. A change to one cluster among 10,000 sends one ClusterLoadAssignment, not
10,000 for Envoy to look through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from xdscp.resourcetypes import CLUSTER, FULL_STATE, PUSH_ORDER, WILDCARD_BY_DEFAULT
from xdscp.server.events import Holds
from xdscp.server.stream import WILDCARD, Output, Request, StreamBase, Subscription
from xdscp.snapshot import Resource, Snapshot, SotwResponse, sotw_response, version_of_marks

# Owed names past which sending all that is named costs no more (one shared response).
_WHOLE_AFTER = 64


@dataclass(frozen=True)
class _Holding:
    """What a client holds of a type sent in parts: the names it named, each at its version in
    snapshot `serial`'s `table` (shared), and the sum of their marks."""

    serial: int
    table: Mapping[str, Resource]
    names: frozenset[str]
    total: int


class _Plan:
    """What a subscription to a type sent in parts is due: the version of all it names, and the
    resources that differ from what it holds (None: send all it names)."""

    __slots__ = ("changed", "total", "version")

    def __init__(self, total: int, changed: list[Resource] | None) -> None:
        self.total, self.changed = total, changed
        self.version = version_of_marks(total)


class SotwStream(StreamBase):
    variant = "sotw"

    def __init__(self, stream_id: int = 0) -> None:
        super().__init__(stream_id)
        # The clusters of the CDS response in flight, and of the last one the client ACKed;
        # each with the serial of the snapshot whose table it is (None: one of its own).
        self._clusters_sent: tuple[int | None, Mapping[str, Resource]] = (None, {})
        self._clusters_held: tuple[int | None, Mapping[str, Resource]] = (None, {})
        self._wants: dict[str, SotwResponse] = {}
        self._holdings: dict[str, _Holding] = {}

    def on_request(self, request: Request, snapshot: Snapshot | None) -> Output:
        if not self.accept_type(request):
            return self.output([])
        type_url = request.type_url
        subscription = self.subscriptions.get(type_url)
        names = frozenset(request.resource_names)
        if subscription is None:
            # A reconnecting client names the version it holds; what it holds is not resent.
            subscription = self.subscriptions[type_url] = Subscription(
                sent_version=request.version_info
            )
            subscription.wildcard = WILDCARD in names or (
                not names and type_url in WILDCARD_BY_DEFAULT
            )
            self.record(Holds(type_url, request.version_info))
            if (
                type_url == CLUSTER
                and snapshot
                and request.version_info == snapshot.versions[CLUSTER]
            ):
                self._clusters_held = (snapshot.serial, snapshot.resources[CLUSTER])
        elif request.response_nonce != subscription.nonce:
            return self.output([])  # stale: it answers a response that a newer one replaced
        else:
            subscription.in_flight = False
            self.record_answer(type_url, subscription.sent_version, request)
            if request.HasField("error_detail"):
                # It kept what it had before: whatever changes next, all it names goes out.
                self._holdings.pop(type_url, None)
            elif type_url == CLUSTER:
                self._clusters_held = self._clusters_sent
        if names and WILDCARD not in names:
            subscription.wildcard = False
        elif WILDCARD in names:
            subscription.wildcard = True
        subscription.names = names - {WILDCARD}
        # Whatever is due now goes out in push order, not just this type: the snapshot may
        # have changed since the last wake-up (clusters before the routes that use them), and
        # this answer may be the one a held-back cluster removal was waiting for.
        return self.output(self._due(snapshot) if snapshot else [])

    def on_snapshot(self, snapshot: Snapshot) -> Output:
        return self.output(self._due(snapshot))

    def _due(self, snapshot: Snapshot) -> list[bytes]:
        return [
            response
            for type_url in PUSH_ORDER
            if type_url in self.subscriptions
            for response in self._respond(type_url, self.subscriptions[type_url], snapshot)
        ]

    def _respond(
        self, type_url: str, subscription: Subscription, snapshot: Snapshot | None
    ) -> list[bytes]:
        """One response when what the client would get differs from what it was last sent.

        A NACKed version is not sent again: only a different one goes out. One response per
        type is in flight at a time, as in go-control-plane; the answer releases the next.
        """
        if snapshot is None or subscription.in_flight:
            return []
        if _in_parts(type_url, subscription):
            return self._respond_in_parts(type_url, subscription, snapshot)
        if type_url == CLUSTER and subscription.wildcard:
            response = self._clusters(snapshot)
        else:
            response = self._wanted(type_url, subscription, snapshot)
        return self._send(type_url, subscription, snapshot, response)

    def _send(
        self,
        type_url: str,
        subscription: Subscription,
        snapshot: Snapshot,
        response: SotwResponse,
    ) -> list[bytes]:
        if response.version == subscription.sent_version:
            return []
        subscription.sent_version, subscription.in_flight = response.version, True
        self.record_sent(type_url, subscription, response.nonce, response.version, snapshot.serial)
        return [response.body]

    def _clusters(self, snapshot: Snapshot) -> SotwResponse:
        """Every cluster, and removals last: a removed cluster stays in the response until
        no other type has an update to send or in flight, so routes move off it first."""
        current = snapshot.resources[CLUSTER]
        serial, held = self._clusters_held
        # Most calls find the client holding this table, or one a few snapshots back: then
        # only what changed since is looked at, not every cluster.
        changes = None if held is current else snapshot.changes_since(serial)
        candidates: Iterable[str] = (
            () if held is current else changes[CLUSTER] if changes is not None else held
        )
        leaving = {n: held[n] for n in candidates if n in held and n not in current}
        if leaving and self._others_unsettled(snapshot):
            sent = {**current, **leaving}
            self._clusters_sent = (None, sent)
            return sotw_response(CLUSTER, [sent[n] for n in sorted(sent)], snapshot.serial)
        self._clusters_sent = (snapshot.serial, current)
        return snapshot.sotw(CLUSTER, None)

    def _respond_in_parts(
        self, type_url: str, subscription: Subscription, snapshot: Snapshot
    ) -> list[bytes]:
        names = frozenset(subscription.names)
        plan = self._plan(type_url, names, snapshot)
        if plan.version == subscription.sent_version:
            # Nothing it names changed (or, reconnecting, it holds all it names as they are);
            # but after a NACK it holds what it had before, which is not known.
            if type_url in self._holdings or not subscription.nonce:
                self._hold(type_url, names, snapshot, plan)
            return []
        if plan.changed is None:
            response = self._wanted(type_url, subscription, snapshot)
        else:
            self._wants.pop(type_url, None)
            response = sotw_response(type_url, plan.changed, snapshot.serial, plan.version)
        self._hold(type_url, names, snapshot, plan)
        return self._send(type_url, subscription, snapshot, response)

    def _hold(self, type_url: str, names: frozenset[str], snapshot: Snapshot, plan: _Plan) -> None:
        table = snapshot.resources[type_url]
        self._holdings[type_url] = _Holding(snapshot.serial, table, names, plan.total)

    def _plan(self, type_url: str, names: frozenset[str], snapshot: Snapshot) -> _Plan:
        """From what the client holds and what changed since, in time proportional to that
        (and to a change of names); everything it names when that is not known."""
        table = snapshot.resources[type_url]
        holding = self._holdings.get(type_url)
        changes = snapshot.changes_since(holding.serial) if holding else None
        if holding is None or changes is None:
            return _Plan(sum(table[n].mark for n in names if n in table), None)
        looked_at: AbstractSet[str] = changes[type_url]
        if names is not holding.names and names != holding.names:
            looked_at = looked_at | names.symmetric_difference(holding.names)
        total, changed = holding.total, []
        for name in looked_at:
            before = holding.table.get(name) if name in holding.names else None
            now = table.get(name) if name in names else None
            if before is now or (before and now and before.version == now.version):
                continue
            total += (now.mark if now else 0) - (before.mark if before else 0)
            if now is not None:
                changed.append(now)
        if len(changed) > _WHOLE_AFTER and len(changed) > len(names) // 2:
            return _Plan(total, None)  # as cheap to send all it names, shared with others
        return _Plan(total, sorted(changed, key=lambda r: r.name))

    def _others_unsettled(self, snapshot: Snapshot) -> bool:
        return any(
            sub.in_flight or self._due_version(type_url, sub, snapshot) != sub.sent_version
            for type_url, sub in self.subscriptions.items()
            if type_url != CLUSTER
        )

    def _due_version(self, type_url: str, subscription: Subscription, snapshot: Snapshot) -> str:
        if _in_parts(type_url, subscription):
            return self._plan(type_url, frozenset(subscription.names), snapshot).version
        return self._wanted(type_url, subscription, snapshot).version

    def _wanted(
        self, type_url: str, subscription: Subscription, snapshot: Snapshot
    ) -> SotwResponse:
        """What the subscription asks for now, held until it asks for something else: the
        snapshot shares a response to names only while some stream holds it."""
        # What a request named, as it was (frozenset() of a frozenset is the same object).
        names = None if subscription.wildcard else frozenset(subscription.names)
        response = self._wants[type_url] = snapshot.sotw(type_url, names)
        return response


def _in_parts(type_url: str, subscription: Subscription) -> bool:
    """Whether responses to it may carry only what changed: a type whose responses need not
    carry the full set, subscribed to by name."""
    return type_url not in FULL_STATE and not subscription.wildcard
