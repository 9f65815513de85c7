"""Who may ask for what: TLS for the xDS port, and a client certificate bound to its node.

With mutual TLS, a client certificate's identity (its DNS or URI SANs, or its common name)
must equal the node id or the node cluster it asks for; anything else is refused. Without
client certificates there is no identity to check, and every node is served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from envoy.config.core.v3 import base_pb2

from xdscp.logs import clip


@dataclass(frozen=True)
class TlsConfig:
    cert: Path
    key: Path
    client_ca: Path | None = None  # set: clients must present a certificate signed by it

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if self.client_ca else None,
            require_client_auth=self.client_ca is not None,
        )


def peer_identities(auth_context: dict[str, Iterable[bytes]]) -> frozenset[str]:
    """The names a verified client certificate gives its holder (empty without one)."""
    names = [
        *auth_context.get("x509_subject_alternative_name", ()),
        *auth_context.get("x509_common_name", ()),
    ]
    return frozenset(n.decode() for n in names)


def refusal(node: base_pb2.Node, identities: frozenset[str]) -> str | None:
    """Why this peer may not be served as this node, or None if it may."""
    if not identities or node.id in identities or (node.cluster and node.cluster in identities):
        return None
    return (
        f"certificate for {clip(', '.join(sorted(identities)))} may not request node "
        f"{clip(node.id)!r} (cluster {clip(node.cluster)!r})"
    )
