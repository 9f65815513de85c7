"""Compare a live Envoy's clusters with what the translator says they should be, field by field."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MISSING = "(absent)"
REDACTED = "[redacted]"
# A bytes field redacted holds those bytes, which JSON shows in base64.
REDACTED_BYTES = base64.b64encode(REDACTED.encode()).decode()
# Fields Envoy marks sensitive and shows as "[redacted]" in config_dump, whatever they hold.
SENSITIVE = frozenset({"private_key", "password"})


@dataclass(frozen=True)
class Check:
    cluster: str
    field: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.actual)

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        detail = f"{self.expected}" if self.ok else f"want {self.expected}, Envoy has {self.actual}"
        return f"{verdict} {self.cluster} {self.field}: {detail}"


def compare(
    expected: Mapping[str, dict[str, Any]], actual: Mapping[str, dict[str, Any]]
) -> list[Check]:
    """One check per leaf field of every expected cluster, and per field Envoy has beyond it."""
    checks = []
    for name, want in sorted(expected.items()):
        have = actual.get(name)
        if have is None:
            checks.append(Check(name, "(cluster)", "present", MISSING))
            continue
        want_leaves, have_leaves = dict(_leaves(as_envoy_shows(want))), dict(_leaves(have))
        for path in sorted(want_leaves.keys() | have_leaves.keys()):
            checks.append(
                Check(name, path, want_leaves.get(path, MISSING), have_leaves.get(path, MISSING))
            )
    return checks


def dynamic_clusters(config_dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Envoy's dynamic active clusters by name, from a config_dump, without their "@type"."""
    return _dynamic(config_dump, "ClustersConfigDump", "dynamic_active_clusters", "cluster")


def dynamic_secrets(config_dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Envoy's SDS secrets by name (private keys redacted by Envoy), without their "@type"."""
    return _dynamic(config_dump, "SecretsConfigDump", "dynamic_active_secrets", "secret")


def _dynamic(
    config_dump: dict[str, Any], section_type: str, listed: str, item: str
) -> dict[str, dict[str, Any]]:
    for section in config_dump["configs"]:
        if section["@type"].endswith(section_type):
            found = [entry[item] for entry in section.get(listed, []) if item in entry]
            return {r["name"]: {k: v for k, v in r.items() if k != "@type"} for r in found}
    return {}


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value and "@type" not in value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


def as_envoy_shows(value: Any) -> Any:
    """`value` with its sensitive data sources as config_dump shows them."""
    if isinstance(value, dict):
        return {
            key: {
                source: REDACTED_BYTES if source == "inline_bytes" else REDACTED for source in item
            }
            if key in SENSITIVE and isinstance(item, dict)
            else as_envoy_shows(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [as_envoy_shows(item) for item in value]
    return value
