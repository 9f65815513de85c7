"""Incremental (delta) xDS: only what changed, each resource with its own version."""

from __future__ import annotations

import itertools
from collections.abc import Set as AbstractSet

from envoy.service.discovery.v3 import discovery_pb2

from xdscp import wire
from xdscp.resourcetypes import PUSH_ORDER, REMOVAL_ORDER, WILDCARD_BY_DEFAULT
from xdscp.server.events import Holds
from xdscp.server.stream import WILDCARD, Output, Request, StreamBase, Subscription
from xdscp.snapshot import Resource, Snapshot


class DeltaStream(StreamBase):
    variant = "delta"

    def __init__(self, stream_id: int = 0) -> None:
        super().__init__(stream_id)
        self._nonces = itertools.count(1)
        # The version of the snapshot every subscription was last compared with in full;
        # None after a subscription changed. In sync, only a snapshot's changes need a look.
        self._synced: str | None = None

    def on_request(self, request: Request, snapshot: Snapshot | None) -> Output:
        if not self.accept_type(request):
            return self.output([])
        assert isinstance(request, discovery_pb2.DeltaDiscoveryRequest)
        type_url = request.type_url
        subscription = self.subscriptions.get(type_url)
        subscribe = set(request.resource_names_subscribe)
        unsubscribe = set(request.resource_names_unsubscribe)
        first = subscription is None
        if subscription is None:
            subscription = self.subscriptions[type_url] = Subscription(
                known=dict(request.initial_resource_versions),
                wildcard=not subscribe and type_url in WILDCARD_BY_DEFAULT,
            )
        # Subscription changes count even on a request whose nonce is stale.
        if WILDCARD in subscribe:
            subscription.wildcard = True
        if WILDCARD in unsubscribe:
            subscription.wildcard = False
        subscription.names = (subscription.names | subscribe) - unsubscribe - {WILDCARD}
        for name in unsubscribe:
            subscription.known.pop(name, None)
        if first or subscribe or unsubscribe:
            self._synced = None
        self._answer(type_url, subscription, request)
        if snapshot is None:
            return self.output([])
        # Everything due goes out in push order, not just this type: the snapshot may have
        # changed since the last wake-up, and a cluster must precede its endpoints.
        responses = self._due(snapshot)
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

    def _due(self, snapshot: Snapshot) -> list[bytes]:
        """Additions and updates in push order, then removals in removal order."""
        if snapshot.version == self._synced:
            return []  # a plain ACK, or a wake-up for what this stream has already
        changed = snapshot.changed if snapshot.base_version == self._synced else None

        def only(type_url: str) -> frozenset[str] | None:
            return None if changed is None else changed[type_url]

        responses = []
        for type_url in PUSH_ORDER:
            if type_url in self.subscriptions:
                sub = self.subscriptions[type_url]
                responses += self._respond(type_url, sub, snapshot, only(type_url), updates=True)
        for type_url in REMOVAL_ORDER:
            if type_url in self.subscriptions:
                sub = self.subscriptions[type_url]
                responses += self._respond(type_url, sub, snapshot, only(type_url), removals=True)
        self._synced = snapshot.version
        return responses

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
        if updates:
            scope = (
                table.keys() | subscription.names if subscription.wildcard else subscription.names
            )
            if only is not None:
                scope = scope & only
            changed = [
                table[name]
                for name in sorted(scope)
                if name in table and known.get(name) != table[name].version
            ]
        if removals:
            # A wildcard client is told of what it holds and is gone; a client that named a
            # resource is told once that it does not exist, so it stops waiting for it.
            candidates: AbstractSet[str] = (
                known.keys() if subscription.wildcard else subscription.names
            )
            if only is not None:
                candidates = candidates & only
            removed = sorted(n for n in candidates if n not in table and known.get(n) != "")
        if not changed and not removed:
            return []
        return [self._response(type_url, subscription, snapshot, changed, removed)]

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
