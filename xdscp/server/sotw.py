"""State of the world: each response carries every resource of its type (or every one named)."""

from __future__ import annotations

from xdscp.server.stream import WILDCARD, WILDCARD_BY_DEFAULT, Request, StreamBase, Subscription
from xdscp.snapshot import TYPES, Snapshot


class SotwStream(StreamBase):
    variant = "sotw"

    def on_request(self, request: Request, snapshot: Snapshot | None) -> list[bytes]:
        if not self.accept_type(request):
            return []
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
            self.status.of(type_url).acked = request.version_info
        elif request.response_nonce != subscription.nonce:
            return []  # stale: it answers a response that a newer one replaced
        elif request.HasField("error_detail"):
            subscription.in_flight = False
            self.record_nack(type_url, subscription.sent_version, request.error_detail.message)
        else:
            subscription.in_flight = False
            self.record_ack(type_url, subscription, subscription.sent_version)
        if names and WILDCARD not in names:
            subscription.wildcard = False
        elif WILDCARD in names:
            subscription.wildcard = True
        subscription.names = names - {WILDCARD}
        return self._respond(type_url, subscription, snapshot)

    def on_snapshot(self, snapshot: Snapshot) -> list[bytes]:
        return [
            response
            for type_url in TYPES
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
        version, response = snapshot.sotw(
            type_url, None if subscription.wildcard else subscription.names
        )
        if version == subscription.sent_version:
            return []
        subscription.sent_version, subscription.in_flight = version, True
        self.record_sent(type_url, subscription, version, version)
        return [response]
