"""The kinds of the API groups xdscp reads, as their API servers serve them.

A document of one of these groups whose kind is not here is a typo (`BackendConfigPolicyy`)
and an error; a kind listed here that xdscp does not read (a ConfigMap, a TrafficPolicy), or a
kind of any other group (an apps/v1 Deployment), is reported as ignored. Nothing is skipped
without a word.
"""

from __future__ import annotations

import difflib

GROUP_KINDS: dict[str, frozenset[str]] = {
    # Kubernetes v1.37's core group: every kind `kubectl api-resources --api-group=""` lists.
    "": frozenset(
        {
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        }
    ),
    "discovery.k8s.io": frozenset({"EndpointSlice"}),
    # Gateway API v1.6, standard and experimental channels.
    "gateway.networking.k8s.io": frozenset(
        {
            "BackendLBPolicy",
            "BackendTLSPolicy",
            "GRPCRoute",
            "Gateway",
            "GatewayClass",
            "HTTPRoute",
            "ListenerSet",
            "ReferenceGrant",
            "TCPRoute",
            "TLSRoute",
            "UDPRoute",
            "XBackendTrafficPolicy",
            "XListenerSet",
        }
    ),
    # kgateway v2's CRDs (RoutePolicy: its earlier name for TrafficPolicy).
    "gateway.kgateway.dev": frozenset(
        {
            "Backend",
            "BackendConfigPolicy",
            "DirectResponse",
            "GatewayExtension",
            "GatewayParameters",
            "HTTPListenerPolicy",
            "ListenerPolicy",
            "RoutePolicy",
            "TrafficPolicy",
        }
    ),
}


def unknown_kind(group: str, kind: str) -> str | None:
    """Why `kind` cannot be of `group`, or None if it can (or the group is not one we know)."""
    known = GROUP_KINDS.get(group)
    if known is None or kind in known:
        return None
    close = difflib.get_close_matches(kind, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no kind {kind} in API group {group or 'core (v1)'}{hint}"
