"""The API resources xdscp lists and watches, with their REST paths."""

from __future__ import annotations

from dataclasses import dataclass

from xdscp.model.backendconfigpolicy import BackendConfigPolicy
from xdscp.model.base import KubeObject
from xdscp.model.gateway import Gateway, GatewayClass
from xdscp.model.httproute import HTTPRoute
from xdscp.model.load import KINDS
from xdscp.model.secret import KEYS as SECRET_KEYS
from xdscp.model.secret import TYPES as SECRET_TYPES
from xdscp.model.secret import Secret

# The REST resource name of each kind xdscp reads (what RBAC rules and URLs name).
_PLURALS = {
    "Service": "services",
    "EndpointSlice": "endpointslices",
    "GatewayClass": "gatewayclasses",
    "Gateway": "gateways",
    "HTTPRoute": "httproutes",
    "ReferenceGrant": "referencegrants",
    "BackendConfigPolicy": "backendconfigpolicies",
    "Backend": "backends",
    "Node": "nodes",
    "Secret": "secrets",
}
# Kinds xdscp does without when its RBAC does not grant them or the API server does not serve
# them: Nodes only add regions and subzones to localities; without ReferenceGrants (an older
# Gateway API install) every cross-namespace backendRef is refused, as with none granted;
# without GatewayClasses no Gateway is xdscp's, and each says why (the rest is served).
_OPTIONAL = frozenset({"Node", "ReferenceGrant", "GatewayClass"})
# Of a Node only its labels are read, and its status (images, conditions, tens of kilobytes)
# changes all the time: only metadata is kept.
_METADATA_ONLY = frozenset({"Node"})


@dataclass(frozen=True)
class Resource:
    """One API resource, served at one group and version."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    optional: bool = False  # read if allowed; refused, it counts as listed and empty
    metadata_only: bool = False  # keep only apiVersion, kind and metadata of each object
    # Only the objects matching it (`type=kubernetes.io/tls`), where the server can filter.
    field_selector: str = ""
    # Keep only these keys of each object's `data` (a Secret's TLS keys: its others are never
    # held in memory). Empty: keep all.
    data_keys: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, model: type[KubeObject], field_selector: str = "", data_keys: tuple[str, ...] = ()
    ) -> Resource:
        return cls(
            model.KIND,
            model.GROUP,
            model.VERSIONS[0],
            _PLURALS[model.KIND],
            model.NAMESPACED,
            model.KIND in _OPTIONAL,
            model.KIND in _METADATA_ONLY,
            field_selector,
            data_keys,
        )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """As RBAC and `kubectl api-resources` spell it: services, backends.gateway.kgateway.dev."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def selected(self) -> str:
        """The name with its field selector, if any: `secrets (type=Opaque)`."""
        return f"{self.name} ({self.field_selector})" if self.field_selector else self.name

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection, across all namespaces when `namespace` is None, or one object."""
        namespace = namespace if self.namespaced else None
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        scoped = f"{root}/namespaces/{namespace}" if namespace is not None else root
        return f"{scoped}/{self.plural}" + (f"/{name}" if name is not None else "")


def _watched(model: type[KubeObject]) -> tuple[Resource, ...]:
    # Secrets of the types TLS uses only: a cluster's other Secrets (tokens, registry
    # credentials, Helm releases) are never read, nor held in memory.
    if model is Secret:
        return tuple(Resource.of(model, f"type={t}", SECRET_KEYS) for t in SECRET_TYPES)
    return (Resource.of(model),)


WATCHED = tuple(resource for model in KINDS for resource in _watched(model))
POLICIES = Resource.of(BackendConfigPolicy)
GATEWAYCLASSES = Resource.of(GatewayClass)
GATEWAYS = Resource.of(Gateway)
HTTPROUTES = Resource.of(HTTPRoute)
# The kinds whose status xdscp writes (and keeps true when someone else writes it).
WITH_STATUS = (POLICIES, GATEWAYCLASSES, GATEWAYS, HTTPROUTES)
LEASES = Resource("Lease", "coordination.k8s.io", "v1", "leases")
