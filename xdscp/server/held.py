"""What a delta client holds of one type: the version of each resource, as cheaply as it can be
kept for a thousand streams.

Most clients hold exactly some snapshot's table (they were sent it, or they reconnect with it):
that table, shared by every such stream, is the base, and each stream keeps only where it
differs. A stream of 10,000 resources in sync costs a pointer, not a 10,000-entry dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
