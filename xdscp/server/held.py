"""What a delta client holds of one type (the version of each resource) and the names it
subscribed to, as cheaply as they can be kept for a thousand streams.

Most clients hold exactly some snapshot's table (they were sent it, or they reconnect with it):
that table, shared by every such stream, is the base, and each stream keeps only where it
differs. A stream of 10,000 resources in sync costs a pointer, not a 10,000-entry dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Protocol

_FORGOTTEN = None  # in `own`: a name the base has that the client no longer holds


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


class Held:
    __slots__ = ("base", "own")

    def __init__(
        self,
        base: Mapping[str, Versioned] | None = None,
        own: dict[str, str | None] | None = None,
    ) -> None:
        self.base: Mapping[str, Versioned] = base if base is not None else {}
        # Where this client differs from the base: a version ("" once told of a removal) or
        # _FORGOTTEN.
        self.own: dict[str, str | None] = own if own is not None else {}

    def get(self, name: str) -> str | None:
        """The version held (None: not held; "": told it was removed)."""
        if name in self.own:
            return self.own[name]
        resource = self.base.get(name)
        return resource.version if resource is not None else None

    def holds(self, name: str) -> bool:
        return self.get(name) is not None

    def __setitem__(self, name: str, version: str) -> None:
        self.own[name] = version

    def forget(self, name: str) -> None:
        if name in self.base:
            self.own[name] = _FORGOTTEN
        else:
            self.own.pop(name, None)

    def names(self) -> Iterable[str]:
        """Every name held (removed ones included)."""
        if not self.own:
            return self.base.keys()
        base = (n for n in self.base if n not in self.own)
        return [*base, *(n for n, v in self.own.items() if v is not _FORGOTTEN)]

    def is_exactly(self, table: Mapping[str, Versioned]) -> bool:
        """Whether the client holds exactly `table`, known without looking at any name."""
        return self.base is table and not self.own

    def __len__(self) -> int:
        """At least the number of names held, at most twice it (O(1))."""
        return len(self.base) + len(self.own)


class Names(AbstractSet[str]):
    """The names a delta client subscribed to, kept as `Held` keeps versions: every Envoy names
    every cluster's endpoints, so most streams name exactly a snapshot's table. That table (its
    keys) is the base, shared by every such stream, and each keeps only where it differs: a
    name subscribed or unsubscribed costs O(1), never a copy of the rest."""

    __slots__ = ("added", "base", "removed")

    def __init__(self, base: Mapping[str, object] | None = None) -> None:
        self.base: Mapping[str, object] = base if base is not None else {}
        self.added: set[str] = set()  # not in the base
        self.removed: set[str] = set()  # in the base

    def __contains__(self, name: object) -> bool:
        return name in self.added or (name in self.base and name not in self.removed)

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    def __iter__(self) -> Iterator[str]:
        if self.removed:
            yield from (n for n in self.base if n not in self.removed)
        else:
            yield from self.base
        yield from self.added

    def subscribe(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.base:
                self.removed.discard(name)
            else:
                self.added.add(name)

    def unsubscribe(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.base:
                self.removed.add(name)
            else:
                self.added.discard(name)

    def is_exactly(self, table: Mapping[str, object]) -> bool:
        """Whether these are the names of `table`, known without looking at any name."""
        return self.base is table and not self.added and not self.removed

    def differing(self) -> Iterator[str]:
        """The names where these differ from the base's."""
        yield from self.added
        yield from self.removed

    def rebase(self, table: Mapping[str, object]) -> None:
        """These are now the names of `table` (the caller knows they are)."""
        self.base, self.added, self.removed = table, set(), set()
