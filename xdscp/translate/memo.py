"""Translation results kept from one translation to the next, reused while their inputs are
the very same objects.

Sources keep an unchanged object's identity (a file that did not change is not parsed again;
a Kubernetes object is validated once per change), so after one policy changes, only what
depends on that policy object is translated again. The output is the same with or without a
memo: it only saves work.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Memo:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[tuple[object, ...], Any]] = {}
        self._used: set[Hashable] = set()

    def get(
        self, key: Hashable, inputs: tuple[object, ...], compute: Callable[..., T], *args: Any
    ) -> T:
        """What `compute(*args)` gave under `key`, if it was from these very `inputs` objects."""
        self._used.add(key)
        entry = self._entries.get(key)
        if entry is not None and same_objects(entry[0], inputs):
            result: T = entry[1]
            return result
        result = compute(*args)
        self._entries[key] = (inputs, result)
        return result

    def sweep(self) -> None:
        """Forget what the last translation did not ask for (deleted objects), so a long-running
        server holds results only for what exists."""
        for key in self._entries.keys() - self._used:
            del self._entries[key]
        self._used = set()


class NoMemo(Memo):
    """Computes everything: a translation without history."""

    def get(
        self, key: Hashable, inputs: tuple[object, ...], compute: Callable[..., T], *args: Any
    ) -> T:
        return compute(*args)


def same_objects(kept: tuple[object, ...], inputs: tuple[object, ...]) -> bool:
    """The very same objects, in order (identity, not equality: equality costs a deep walk)."""
    return len(kept) == len(inputs) and all(map(operator.is_, kept, inputs))
