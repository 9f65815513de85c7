"""A persistent map from a key to a set of values, edited one value at a time."""

from __future__ import annotations

from typing import TypeVar

from immutables import MapMutation

K = TypeVar("K")
V = TypeVar("V")


def relink(index: MapMutation[K, frozenset[V]], key: K, value: V, linked: bool) -> None:
    """Add `value` to `key`'s set (`linked`), or take it out; a key with none left goes."""
    found = index.get(key, frozenset())
    now = found | {value} if linked else found - {value}
    if now:
        index[key] = now
    else:
        index.pop(key, None)
