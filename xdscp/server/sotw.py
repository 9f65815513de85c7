"""State of the world: each response carries every resource of its type (or every one named)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from xdscp.resourcetypes import CLUSTER, PUSH_ORDER, WILDCARD_BY_DEFAULT
from xdscp.server.events import Holds
from xdscp.server.stream import WILDCARD, Output, Request, StreamBase, Subscription
from xdscp.snapshot import Resource, Snapshot, SotwResponse, sotw_response


class SotwStream(StreamBase):
    variant = "sotw"

    def __init__(self, stream_id: int = 0) -> None:
        super().__init__(stream_id)
        # The clusters of the CDS response in flight, and of the last one the client ACKed.
        self._clusters_sent: Mapping[str, Resource] = {}
        self._clusters_held: Mapping[str, Resource] = {}
        self._wants: dict[str, SotwResponse] = {}

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
                self._clusters_held = snapshot.resources[CLUSTER]
        elif request.response_nonce != subscription.nonce:
            return self.output([])  # stale: it answers a response that a newer one replaced
        else:
            subscription.in_flight = False
            self.record_answer(type_url, subscription.sent_version, request)
            if type_url == CLUSTER and not request.HasField("error_detail"):
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
        if type_url == CLUSTER and subscription.wildcard:
            response = self._clusters(snapshot)
        else:
            response = self._wanted(type_url, subscription, snapshot)
        if response.version == subscription.sent_version:
            return []
        subscription.sent_version, subscription.in_flight = response.version, True
        self.record_sent(type_url, subscription, response.nonce, response.version, snapshot.serial)
        return [response.body]

    def _clusters(self, snapshot: Snapshot) -> SotwResponse:
        """Every cluster, and removals last: a removed cluster stays in the response until
        no other type has an update to send or in flight, so routes move off it first."""
        current, held = snapshot.resources[CLUSTER], self._clusters_held
        # Most calls find the client holding exactly this table, or the one before it: then
        # no scan of it.
        candidates: Iterable[str] = (
            ()
            if held is current
            else snapshot.changed[CLUSTER]
            if snapshot.changed is not None and held is snapshot.base_resources[CLUSTER]
            else held
        )
        leaving = {n: held[n] for n in candidates if n in held and n not in current}
        if leaving and self._others_unsettled(snapshot):
            self._clusters_sent = {**current, **leaving}
            held_back = [self._clusters_sent[n] for n in sorted(self._clusters_sent)]
            return sotw_response(CLUSTER, held_back, snapshot.serial)
        self._clusters_sent = current
        return snapshot.sotw(CLUSTER, None)

    def _others_unsettled(self, snapshot: Snapshot) -> bool:
        return any(
            sub.in_flight or self._wanted(type_url, sub, snapshot).version != sub.sent_version
            for type_url, sub in self.subscriptions.items()
            if type_url != CLUSTER
        )

    def _wanted(
        self, type_url: str, subscription: Subscription, snapshot: Snapshot
    ) -> SotwResponse:
        """What the subscription asks for now, held until it asks for something else: the
        snapshot shares a response to names only while some stream holds it."""
        # What a request named, as it was (frozenset() of a frozenset is the same object).
        names = None if subscription.wildcard else frozenset(subscription.names)
        response = self._wants[type_url] = snapshot.sotw(type_url, names)
        return response
