"""A versioned, serialized-once set of Envoy resources: what every stream is served from.

Versions come from content only, so the same input gives the same versions, also after a
restart, and a reconnecting Envoy is told nothing it does not already have.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from google.protobuf.message import Message

from xdscp import wire
from xdscp.groups import UNNAMED
from xdscp.resourcetypes import BY_URL, PUSH_ORDER
from xdscp.translate import Selection, Translation
from xdscp.translate.memo import same_objects


def digest(*parts: bytes) -> str:
    return hashlib.blake2b(b"\0".join(parts), digest_size=8).hexdigest()


@dataclass(frozen=True, eq=False)
class Resource:
    """One resource of one type at one version, with its wire forms built once."""

    type_url: str
    name: str
    version: str
    body: bytes  # deterministic serialization of the Envoy message
    # What it was built from (the message, and its parent's Resource): when the translator
    # hands over the very same objects again, nothing is serialized or hashed again.
    sources: tuple[object, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def any(self) -> bytes:
        return wire.any_message(self.type_url, self.body)

    @cached_property
    def delta(self) -> bytes:
        return wire.delta_resource(self.name, self.version, self.any)


def _version_of(resources: Iterable[Resource]) -> str:
    return digest(*(f"{r.name}={r.version}".encode() for r in resources))


@dataclass(frozen=True, slots=True, weakref_slot=True)
class SotwResponse:
    version: str
    nonce: str
    body: bytes  # the serialized DiscoveryResponse, nonce included


@dataclass(frozen=True, slots=True)
class DeltaResponse:
    version: str
    nonce: str
    body: bytes  # the serialized DeltaDiscoveryResponse, nonce included


def sotw_response(type_url: str, resources: list[Resource], serial: int) -> SotwResponse:
    """A DiscoveryResponse carrying exactly `resources`, versioned by them.

    The nonce is the version and the snapshot's serial number: every stream sent this
    snapshot's response shares its bytes, and one stream never sees a nonce twice (a version
    can come back, as after A, B, A, but never from the same snapshot).
    """
    version = _version_of(resources)
    nonce = f"{version}.{serial}"
    body = wire.discovery_response(version, (r.any for r in resources), type_url)
    return SotwResponse(version, nonce, wire.with_nonce(body, nonce))


# Numbers snapshots in the order this process built them, for nonces (see sotw_response).
_serials = itertools.count(1)


class Snapshot:
    """Resources by type and name. Immutable once built; responses are built once and shared:
    each type's full response for the snapshot's life, a response to names while a stream holds
    it (names come from clients: a set nobody asks for any more is not kept)."""

    def __init__(
        self, resources: Mapping[str, Mapping[str, Resource]], base: Snapshot | None = None
    ) -> None:
        self.resources = {t: dict(sorted(resources.get(t, {}).items())) for t in PUSH_ORDER}
        self.serial = next(_serials)
        self._every: dict[str, SotwResponse] = {}
        self._named: weakref.WeakValueDictionary[tuple[str, frozenset[str]], SotwResponse] = (
            weakref.WeakValueDictionary()
        )
        self._delta_every: dict[str, DeltaResponse] = {}
        self._version_maps: dict[str, dict[str, str]] = {}
        self._names: dict[str, frozenset[str]] = {}
        # The names that differ from the snapshot this one was built from, by type: a stream
        # in sync with that one need look at nothing else.
        self.base_version = base.version if base else None
        self.changed = (
            {t: _differing(base.resources[t], self.resources[t]) for t in PUSH_ORDER}
            if base
            else None
        )

    @cached_property
    def versions(self) -> dict[str, str]:
        return {t: _version_of(self.resources[t].values()) for t in PUSH_ORDER}

    @cached_property
    def version(self) -> str:
        return digest(*(v.encode() for v in self.versions.values()))

    def sotw(self, type_url: str, names: frozenset[str] | None) -> SotwResponse:
        """The response for all resources (None) or those named, built once while wanted.

        Names that do not exist are left out; the version covers exactly what is sent. Hold
        on to a response to names for as long as it is wanted: it is shared with every stream
        naming the same, and forgotten once none holds it.
        """
        table = self.resources[type_url]
        if names is None:
            every = self._every.get(type_url)
            if every is None:
                every = self._every[type_url] = self._response(type_url, list(table.values()))
            return every
        key = (type_url, names)
        named = self._named.get(key)
        if named is None:
            chosen = [table[n] for n in sorted(names) if n in table]
            named = self._named[key] = self._response(type_url, chosen)
        return named

    def delta_every(self, type_url: str) -> DeltaResponse:
        """Every resource of a type as one delta response, built once and shared by every new
        subscriber (a fleet reconnecting at once is sent the same bytes); its nonce is the
        snapshot's, never one a stream numbers itself ("<stream>-<n>")."""
        every = self._delta_every.get(type_url)
        if every is None:
            nonce = f"{self.serial}.{BY_URL[type_url].short}"
            version = self.versions[type_url]
            body = wire.delta_discovery_response(
                version, (r.delta for r in self.resources[type_url].values()), type_url, (), nonce
            )
            every = self._delta_every[type_url] = DeltaResponse(version, nonce, body)
        return every

    def version_map(self, type_url: str) -> dict[str, str]:
        """Name -> version of a type, as a reconnecting delta client names what it holds."""
        found = self._version_maps.get(type_url)
        if found is None:
            table = self.resources[type_url].items()
            found = self._version_maps[type_url] = {n: r.version for n, r in table}
        return found

    def names(self, type_url: str) -> frozenset[str]:
        """The names of a type, one set shared by every client subscribing to exactly them."""
        found = self._names.get(type_url)
        if found is None:
            found = self._names[type_url] = frozenset(self.resources[type_url])
        return found

    def _response(self, type_url: str, resources: list[Resource]) -> SotwResponse:
        return sotw_response(type_url, resources, self.serial)

    @classmethod
    def build(cls, translation: Translation, previous: Snapshot | None = None) -> Snapshot:
        """Serialize every resource; a resource whose bytes did not change is reused as is.

        A type `versioned_with` another (endpoints with clusters) has versions that also cover
        the same-named resource of that type.
        """
        old = previous.resources if previous else {}

        def resources(
            type_url: str, messages: Mapping[str, Message], parents: Mapping[str, Resource]
        ) -> dict[str, Resource]:
            out = {}
            before = old.get(type_url, {})
            for name, message in messages.items():
                parent = parents.get(name)
                reused = before.get(name)
                sources = (message, parent)
                if reused is not None and same_objects(reused.sources, sources):
                    out[name] = reused
                    continue
                body = message.SerializeToString(deterministic=True)
                version = digest(body, parent.version.encode()) if parent else digest(body)
                out[name] = (
                    reused
                    if reused is not None and reused.version == version
                    else Resource(type_url, name, version, body, sources)
                )
            return out

        built: dict[str, dict[str, Resource]] = {}
        for type_url in PUSH_ORDER:  # a type before the types versioned with it
            covered = BY_URL[type_url].versioned_with
            parents = built[covered] if covered else {}
            built[type_url] = resources(type_url, translation.resources[type_url], parents)
        return cls(built, previous)


def by_group(
    universe: Snapshot, translation: Translation, previous: Mapping[str, Snapshot]
) -> dict[str, Snapshot]:
    """Each node group's snapshot, made of `universe`'s resources (serialized once, shared).

    A group whose resources are all the very ones it was served before keeps that snapshot,
    responses and all; one served everything is served `universe` itself.
    """
    if translation.groups is None:
        return {UNNAMED: universe}
    return {
        group: _select(universe, selection, previous.get(group))
        for group, selection in translation.groups.items()
    }


def _select(universe: Snapshot, selection: Selection, previous: Snapshot | None) -> Snapshot:
    every = universe.resources

    def pick(type_url: str) -> dict[str, Resource]:
        table, names = every[type_url], selection.get(type_url, frozenset())
        return table if names is None else {n: table[n] for n in sorted(names) if n in table}

    chosen = {t: pick(t) for t in PUSH_ORDER}
    if all(len(chosen[t]) == len(every[t]) for t in PUSH_ORDER):
        return universe
    if previous is not None and all(
        _same_table(previous.resources[t], chosen[t]) for t in PUSH_ORDER
    ):
        return previous
    return Snapshot(chosen, previous)


def _same_table(old: Mapping[str, Resource], new: Mapping[str, Resource]) -> bool:
    return len(old) == len(new) and all(new.get(n) is r for n, r in old.items())


def _differing(old: Mapping[str, Resource], new: Mapping[str, Resource]) -> frozenset[str]:
    """Names added, changed (a new Resource) or removed between two tables."""
    return frozenset(n for n, r in new.items() if old.get(n) is not r) | (old.keys() - new.keys())
