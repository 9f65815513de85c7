"""Kubernetes mode: list and watch the API server, serve what it holds, write status back."""

from xdscp.sources.kubernetes.config import KubernetesConfig
from xdscp.sources.kubernetes.source import KubernetesSource

__all__ = ["KubernetesConfig", "KubernetesSource"]
