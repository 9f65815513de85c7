"""Node: where an endpoint runs, read for the topology labels its locality is made of."""

from __future__ import annotations

from pydantic import field_validator

from xdscp.model.base import KubeObject, ObjectMeta

REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
SUBZONE = "topology.istio.io/subzone"  # Istio's and kgateway's, the one subzone label in use


class ClusterMeta(ObjectMeta):
    """A cluster-scoped object has no namespace: the API server drops one if given."""

    namespace: str = ""

    @field_validator("namespace", mode="before")
    @classmethod
    def _no_namespace(cls, _: object) -> str:
        return ""


class Node(KubeObject):
    GROUP = ""
    KIND = "Node"
    NAMESPACED = False

    metadata: ClusterMeta

    def label(self, key: str) -> str:
        return self.metadata.labels.get(key, "")
