"""Envoy itself as the judge of clusters: `envoy --mode validate` on a bootstrap holding them."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from xdscp.demo.processes import envoy_binary


def as_static(
    cluster: dict[str, Any], name: str, assignment: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The cluster renamed, EDS made STATIC with the given load assignment (else an empty one):
    a bootstrap has no ADS to get endpoints from."""
    cluster = {**cluster, "name": name}
    if cluster.get("type") == "EDS":
        del cluster["eds_cluster_config"]
        cluster["type"] = "STATIC"
        cluster["load_assignment"] = {**(assignment or {}), "cluster_name": name}
    if "load_assignment" in cluster:
        cluster["load_assignment"]["cluster_name"] = name
    return cluster


def with_routes(name: str, port: int, routes: dict[str, Any]) -> dict[str, Any]:
    """A static listener serving a RouteConfiguration inline, its cluster names unchecked (the
    clusters live in other cases)."""
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "validate",
        "route_config": {**routes, "name": name, "validate_clusters": False},
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def envoy_validate(
    clusters: list[dict[str, Any]],
    workdir: Path,
    listeners: Sequence[dict[str, Any]] = (),
    secrets: Sequence[dict[str, Any]] = (),
) -> subprocess.CompletedProcess[str]:
    bootstrap = workdir / "validate-bootstrap.yaml"
    resources = {"clusters": clusters, "listeners": list(listeners), "secrets": list(secrets)}
    bootstrap.write_text(yaml.safe_dump({"static_resources": resources}))
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(bootstrap), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
