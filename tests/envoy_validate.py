"""Envoy itself as the judge of clusters: `envoy --mode validate` on a bootstrap holding them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from xdscp.processes import envoy_binary


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


def envoy_validate(
    clusters: list[dict[str, Any]], workdir: Path
) -> subprocess.CompletedProcess[str]:
    bootstrap = workdir / "validate-bootstrap.yaml"
    bootstrap.write_text(yaml.safe_dump({"static_resources": {"clusters": clusters}}))
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(bootstrap), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
