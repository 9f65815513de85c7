"""Incremental (delta) xDS: only what changed, each resource with its own version."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from envoy.service.discovery.v3 import discovery_pb2

from xdscp import wire
from xdscp.resourcetypes import PUSH_ORDER, REMOVAL_ORDER, WILDCARD_BY_DEFAULT
from xdscp.server.events import Holds
from xdscp.server.held import Held, Names
from xdscp.server.stream import WILDCARD, Output, Request, StreamBase, Subscription
from xdscp.snapshot import Resource, Snapshot


class DeltaStream(StreamBase):
    variant = "delta"

    def __init__(self, stream_id: int = 0) -> None:
        super().__init__(stream_id)
        self._nonces = itertools.count(1)
        # The version and serial of the snapshot every subscription has been compared with, and
        # its tables: a later snapshot needs a look at only what changed since.
        self._synced: str | None = None
        self._synced_serial: int | None = None
        self._synced_tables: Mapping[str, Mapping[str, Resource]] = {}
        # Per type, the serial of the snapshot whose names the stream's were last compared with.
        self._compared: dict[str, int] = {}

    def on_request(self, request: Request, snapshot: Snapshot | None) -> Output:
        """Work in proportion to the request, whatever the stream subscribed before: only the
        names it (un)subscribes are looked at, and a whole table only for a new subscription
        or a new wildcard."""
        if not self.accept_type(request):
            return self.output([])
        assert isinstance(request, discovery_pb2.DeltaDiscoveryRequest)
        type_url = request.type_url
        subscription = self.subscriptions.get(type_url)
        subscribe = frozenset(request.resource_names_subscribe)
        unsubscribe = frozenset(request.resource_names_unsubscribe)
        first = subscription is None
        if subscription is None:
            subscription = self.subscriptions[type_url] = Subscription(
                known=_held(type_url, request.initial_resource_versions, snapshot),
                wildcard=not subscribe and type_url in WILDCARD_BY_DEFAULT,
                names=Names(),
            )
        # Subscription changes count even on a request whose nonce is stale.
        became_wildcard = WILDCARD in subscribe and not subscription.wildcard
        if WILDCARD in subscribe:
            subscription.wildcard = True
        if WILDCARD in unsubscribe:
            subscription.wildcard = False
        if subscribe or unsubscribe:
            self._rename(type_url, subscription, subscribe, unsubscribe, snapshot)
        for name in unsubscribe:
            subscription.known.forget(name)
        self._answer(type_url, subscription, request)
        if snapshot is None:
            self._synced = self._synced_serial = None  # nothing compared: a full look next
            return self.output([])
        # Everything due goes out in push order, not just this type: the snapshot may have
        # changed since the last wake-up, and a cluster must precede its endpoints.
        responses = self._due(snapshot)
        # Then what this request changed: the whole type for a new subscription or wildcard;
        # else the names it named (a wildcard client that unsubscribes a name still gets it).
        scope = None if first or became_wildcard else (subscribe | unsubscribe) - {WILDCARD}
        if scope is None or scope:
            responses += self._respond(type_url, subscription, snapshot, scope, updates=True)
            responses += self._respond(type_url, subscription, snapshot, scope, removals=True)
        if first and not self.sent_now(type_url):
            if request.initial_resource_versions:
                # A reconnecting client that holds everything current is in sync as it is.
                self.record(Holds(type_url, snapshot.versions[type_url]))
            else:
                # A new client waits for a first answer, even an empty one, before it is ready.
                responses.append(self._response(type_url, subscription, snapshot, [], []))
        return self.output(responses)

    def on_snapshot(self, snapshot: Snapshot) -> Output:
        return self.output(self._due(snapshot))

    def _rename(
        self,
        type_url: str,
        subscription: Subscription,
        subscribe: frozenset[str],
        unsubscribe: frozenset[str],
        snapshot: Snapshot | None,
    ) -> None:
        """The stream's names, changed by what the request (un)subscribes (O(request)); then
        shared with the snapshot's table if they are its names."""
        names = _names(subscription)
        names.subscribe(subscribe - {WILDCARD})
        names.unsubscribe(unsubscribe)
        if snapshot is not None:
            self._share(type_url, names, snapshot, snapshot.changed, snapshot.base_resources)

    def _share(
        self,
        type_url: str,
        names: Names,
        snapshot: Snapshot,
        changed: Mapping[str, AbstractSet[str]] | None,
        before: Mapping[str, Mapping[str, Resource]],
    ) -> None:
        """Make the snapshot's table the base of names that are its names. Every Envoy names
        every cluster's endpoints: in step with the tables `before` (what `changed` is
        relative to), only the names either changed are looked at; else every name, at most
        once per snapshot (and only when there are as many)."""
        table = snapshot.resources[type_url]
        if names.is_exactly(table):
            return
        if changed is not None and names.base is before.get(type_url):
            looked_at = itertools.chain(changed[type_url], names.differing())
            if all((n in table) == (n in names) for n in looked_at):
                names.rebase(table)
            return
        if self._compared.get(type_url) == snapshot.serial or len(names) != len(table):
            return
        self._compared[type_url] = snapshot.serial
        # As many, so the same names if it has all of the table's (a C loop for a new client's).
        if names.added.issuperset(table) if not names.base else all(n in names for n in table):
            names.rebase(table)

    def _due(self, snapshot: Snapshot) -> list[bytes]:
        """Additions and updates in push order, then removals in removal order; nothing while
        a response is unanswered: what changed meanwhile goes out in one response per type
        once the client answers (a slow reader, or a burst of changes, costs one response
        per answer, not one per snapshot)."""
        if snapshot.version == self._synced:
            return []  # a plain ACK, or a wake-up for what this stream has already
        if any(sub.pending for sub in self.subscriptions.values()):
            return []
        changed = self._owed(snapshot)

        def only(type_url: str) -> frozenset[str] | None:
            return None if changed is None else frozenset(changed.get(type_url, ()))

        responses = []
        for type_url in PUSH_ORDER:
            if type_url in self.subscriptions:
                sub = self.subscriptions[type_url]
                responses += self._respond(type_url, sub, snapshot, only(type_url), updates=True)
        for type_url in REMOVAL_ORDER:
            if type_url in self.subscriptions:
                sub = self.subscriptions[type_url]
                responses += self._respond(type_url, sub, snapshot, only(type_url), removals=True)
        for type_url, sub in self.subscriptions.items():
            if sub.names:
                self._share(type_url, _names(sub), snapshot, changed, self._synced_tables)
            _rebase(sub, snapshot.resources[type_url])
        self._synced, self._synced_serial = snapshot.version, snapshot.serial
        self._synced_tables = snapshot.resources
        return responses

    def _owed(self, snapshot: Snapshot) -> Mapping[str, frozenset[str]] | None:
        """What changed from the snapshot synced to this one (None when that is not known, or
        so much that comparing everything is as cheap)."""
        changed = snapshot.changes_since(self._synced_serial)
        if changed is None or any(
            len(names) > len(snapshot.resources[t]) // 2 + _REBASE_AFTER
            for t, names in changed.items()
        ):
            return None
        return changed

    def _answer(
        self,
        type_url: str,
        subscription: Subscription,
        request: discovery_pb2.DeltaDiscoveryRequest,
    ) -> None:
        version = subscription.pending.pop(request.response_nonce, None)
        if version is None:
            return  # the first request, or a stale nonce
        # On a NACK the client kept its old resources; they are not resent until they change.
        self.record_answer(type_url, version, request)

    def _respond(
        self,
        type_url: str,
        subscription: Subscription,
        snapshot: Snapshot | None,
        only: frozenset[str] | None,
        *,
        updates: bool = False,
        removals: bool = False,
    ) -> list[bytes]:
        """What differs from what the client holds; among `only` these names if given."""
        if snapshot is None:
            return []
        table = snapshot.resources[type_url]
        known = subscription.known
        changed: list[Resource] = []
        removed: list[str] = []
        if updates and not known.is_exactly(table):
            scope = _scope(subscription, table, only)
            if only is None and not subscription.nonce and not len(known) and _covers(scope, table):
                # A new subscriber to all there is: the response every such one is sent.
                return [self._every(type_url, subscription, snapshot)]
            changed = [
                table[name]
                for name in sorted(scope)
                if name in table and known.get(name) != table[name].version
            ]
        if removals:
            # A wildcard client is told of what it holds and is gone; a client that named a
            # resource is told once that it does not exist, so it stops waiting for it.
            candidates: Iterable[str]
            if subscription.wildcard:
                held = known.names() if only is None else (n for n in only if known.holds(n))
                candidates = () if known.is_exactly(table) else held
            else:
                names = subscription.names
                candidates = names if only is None else (n for n in only if n in names)
            removed = sorted(n for n in candidates if n not in table and known.get(n) != "")
        if not changed and not removed:
            return []
        return [self._response(type_url, subscription, snapshot, changed, removed)]

    def _every(self, type_url: str, subscription: Subscription, snapshot: Snapshot) -> bytes:
        every = snapshot.delta_every(type_url)
        subscription.known = Held(snapshot.resources[type_url])
        subscription.pending[every.nonce] = every.version
        self.record_sent(type_url, subscription, every.nonce, every.version, snapshot.serial)
        return every.body

    def _response(
        self,
        type_url: str,
        subscription: Subscription,
        snapshot: Snapshot,
        changed: list[Resource],
        removed: list[str],
    ) -> bytes:
        for resource in changed:
            subscription.known[resource.name] = resource.version
        for name in removed:
            subscription.known[name] = ""
        nonce = f"{self.stream_id}-{next(self._nonces)}"
        version = snapshot.versions[type_url]
        subscription.pending[nonce] = version
        self.record_sent(type_url, subscription, nonce, version, snapshot.serial)
        return wire.delta_discovery_response(
            version, (r.delta for r in changed), type_url, removed, nonce
        )


# Differences a stream keeps from a shared table before it is worth comparing the two (O(N)).
_REBASE_AFTER = 64


def _names(subscription: Subscription) -> Names:
    names = subscription.names
    assert isinstance(names, Names)  # a delta subscription's, made with it
    return names


def _held(type_url: str, initial: Mapping[str, str], snapshot: Snapshot | None) -> Held:
    """What a new subscriber says it holds: a reconnecting Envoy holding exactly the current
    snapshot (the common case when a fleet reconnects) shares its table."""
    if not initial:
        return Held()
    versions: dict[str, str | None] = dict(initial)
    if snapshot is not None and versions == snapshot.version_map(type_url):
        return Held(snapshot.resources[type_url])
    return Held(own=versions)


def _scope(
    subscription: Subscription, table: Mapping[str, Resource], only: frozenset[str] | None
) -> AbstractSet[str]:
    """The names to compare: all the client wants, or those of `only` it wants (in time
    proportional to `only`, however many it wants)."""
    names = subscription.names
    if only is None:
        return set(table).union(names) if subscription.wildcard else names
    return only if subscription.wildcard else frozenset(n for n in only if n in names)


def _covers(scope: AbstractSet[str], table: Mapping[str, Resource]) -> bool:
    """Whether `scope` names every resource of a table that has some."""
    if not 0 < len(table) <= len(scope):
        return False
    if isinstance(scope, Names) and scope.base is table:
        return not scope.removed  # without looking at any name
    if isinstance(scope, set | frozenset):
        return scope.issuperset(table)  # a C loop
    return all(n in scope for n in table)


def _rebase(subscription: Subscription, table: Mapping[str, Resource]) -> None:
    """After a pass, the client holds every resource in scope at the table's version (and ""
    for each it was told is gone): share the table where that is the whole of it."""
    known = subscription.known
    if known.is_exactly(table):
        return
    if subscription.wildcard and not subscription.names:
        # A wildcard client is told only of removals of what it holds: a name told gone is
        # as good as one never held.
        subscription.known = Held(table)
    elif len(known.own) > _REBASE_AFTER and _covers(subscription.names, table):
        names = subscription.names
        # Names sharing the table are outside it only where they differ from it.
        outside = names.added if isinstance(names, Names) and names.base is table else names
        gone = (n for n in outside if n not in table)
        subscription.known = Held(table, {n: "" for n in gone if known.get(n) == ""})
