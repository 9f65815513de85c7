"""Compare a live Envoy's clusters with what the translator says they should be, field by field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MISSING = "(absent)"


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
        want_leaves, have_leaves = dict(_leaves(want)), dict(_leaves(have))
        for path in sorted(want_leaves.keys() | have_leaves.keys()):
            checks.append(
                Check(name, path, want_leaves.get(path, MISSING), have_leaves.get(path, MISSING))
            )
    return checks


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value and "@type" not in value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value
