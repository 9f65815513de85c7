"""A route's backendRef to the cluster it sends to, or why it cannot (in Gateway API's reasons).

A reference into another namespace needs a ReferenceGrant there that lets HTTPRoutes of the
route's namespace refer to the object, as Gateway API requires.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscp.model.gatewayapi import GROUP
from xdscp.model.httproute import BackendRef, HTTPRoute
from xdscp.model.resources import Resources
from xdscp.translate import names

BACKEND = ("gateway.kgateway.dev", "Backend")
SERVICE = ("", "Service")


@dataclass(frozen=True)
class Unresolved:
    reason: str  # BackendNotFound, InvalidKind, RefNotPermitted
    message: str


def resolve(ref: BackendRef, route: HTTPRoute, resources: Resources) -> str | Unresolved:
    """The cluster `ref` names, or why it names none."""
    namespace = ref.namespace or route.metadata.namespace
    kind = (ref.group, ref.kind)
    shown = f"{ref.kind} {namespace}/{ref.name}"
    if kind not in (BACKEND, SERVICE):
        return Unresolved("InvalidKind", f"backendRef kind {ref.group}/{ref.kind} is not supported")
    if namespace != route.metadata.namespace and not _granted(ref, route, namespace, resources):
        return Unresolved(
            "RefNotPermitted",
            f"{shown} is in another namespace, and no ReferenceGrant there lets HTTPRoutes "
            f"of namespace {route.metadata.namespace} refer to it",
        )
    if kind == BACKEND:
        if (namespace, ref.name) in resources.backends:
            return names.backend_cluster(namespace, ref.name)
        return Unresolved("BackendNotFound", f"Backend {namespace}/{ref.name} not found")
    service = resources.services.get((namespace, ref.name))
    if service is None:
        return Unresolved("BackendNotFound", f"Service {namespace}/{ref.name} not found")
    if ref.port is None or all(p.port != ref.port for p in service.spec.ports):
        return Unresolved(
            "BackendNotFound", f"Service {namespace}/{ref.name} has no port {ref.port}"
        )
    return names.service_cluster(namespace, ref.name, ref.port)


def _granted(ref: BackendRef, route: HTTPRoute, namespace: str, resources: Resources) -> bool:
    return any(
        grant.permits(GROUP, route.KIND, route.metadata.namespace, ref.group, ref.kind, ref.name)
        for (grant_namespace, _), grant in resources.reference_grants.items()
        if grant_namespace == namespace
    )
