"""Kubernetes mode's settings, and the client configuration they lead to."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xdscp.errors import UserError
from xdscp.sources.kubernetes.lease import LeaseConfig

if TYPE_CHECKING:
    from kubernetes import client

log = logging.getLogger("xdscp.kubernetes")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class KubernetesConfig:
    kubeconfig: Path | None = None  # None: in-cluster config, else $KUBECONFIG or ~/.kube/config
    namespaces: tuple[str, ...] = ()  # none: every namespace
    lease_namespace: str | None = None  # None: this pod's namespace
    lease_name: str = "xdscp"
    identity: str | None = None  # None: the host (pod) name and a random suffix
    lease_duration: int = 15

    def lease(self) -> LeaseConfig:
        """The Lease settings, defaults filled in from the environment."""
        return LeaseConfig(
            self.lease_namespace or _pod_namespace(),
            self.identity or f"{socket.gethostname()}_{secrets.token_hex(4)}",
            self.lease_name,
            self.lease_duration,
        )


def _pod_namespace() -> str:
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:  # not in a pod
        return "default"


def client_configuration(kubeconfig: Path | None) -> client.Configuration:
    # Imported here, as in api.py: the client and what it brings (requests, oauthlib, ...) are
    # ~10 MB that serving files never needs.
    from kubernetes import client, config

    configuration = client.Configuration()
    # No instant retries inside urllib3: every caller here backs off on its own.
    configuration.retries = False
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return configuration
        except config.ConfigException:
            log.debug("not in a cluster; using the default kubeconfig")
    try:
        config.load_kube_config(
            config_file=str(kubeconfig) if kubeconfig else None,
            client_configuration=configuration,
        )
    except (config.ConfigException, OSError) as err:
        where = f"--kubeconfig {kubeconfig}" if kubeconfig else "$KUBECONFIG or ~/.kube/config"
        raise UserError(
            f"no Kubernetes configuration: not in a cluster, and {where}: {err}"
        ) from None
    return configuration
