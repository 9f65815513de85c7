"""Which hostnames a route is served under on a listener: Gateway API's intersection."""

from __future__ import annotations

from collections.abc import Sequence


def intersect(listener: str | None, route: Sequence[str]) -> list[str]:
    """The more specific of each pair that match; a side with no hostname matches anything."""
    if not route:
        return [listener or "*"]
    if listener is None:
        return list(route)
    found = []
    for host in route:
        if _covers(listener, host):
            found.append(host)
        elif _covers(host, listener):
            found.append(listener)
    return list(dict.fromkeys(found))


def _covers(pattern: str, host: str) -> bool:
    """Whether `pattern` (exact, or `*.` and a suffix of one or more labels) admits `host`,
    itself exact or a wildcard."""
    if not pattern.startswith("*."):
        return pattern == host
    suffix = pattern[1:]  # ".example.com"
    return host.endswith(suffix) and len(host) > len(suffix)
