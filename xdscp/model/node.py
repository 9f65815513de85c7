"""Node: where an endpoint runs, read for the topology labels its locality is made of."""

from __future__ import annotations

from xdscp.model.base import ClusterMeta, KubeObject

REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
SUBZONE = "topology.istio.io/subzone"  # Istio's and kgateway's, the one subzone label in use


class Node(KubeObject):
    GROUP = ""
    KIND = "Node"
    NAMESPACED = False

    metadata: ClusterMeta

    def label(self, key: str) -> str:
        return self.metadata.labels.get(key, "")
