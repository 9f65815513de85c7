"""A versioned, serialized-once set of Envoy resources: what every stream is served from.

Versions come from content only, so the same input gives the same versions, also after a
restart, and a reconnecting Envoy is told nothing it does not already have.

A snapshot is made from the last one and what the translation changed since it, in time
proportional to the change: its tables are persistent maps (shared with the last snapshot but
for the names changed), and a type's version is the sum of its resources' marks, which does
not depend on order, so it is brought up to date by the changed names alone. Names are sorted
only where bytes are built for a whole table (a first response), so the same input gives the
same bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import immutables

from xdscp import wire
from xdscp.groups import UNNAMED
from xdscp.resourcetypes import BY_URL, PUSH_ORDER
from xdscp.translate import Selection, Translation
from xdscp.translate.memo import same_objects


def digest(*parts: bytes) -> str:
    return hashlib.blake2b(b"\0".join(parts), digest_size=8).hexdigest()


class Resource:
    """One resource of one type at one version, built once and shared by every snapshot and
    stream holding it. Kept in one wire form, the delta `Resource` message (version,
    Any(type_url, body), name), which holds the other two: the Any as a SotW response carries
    it (field 2 of both messages), and the body (the Envoy message, serialized
    deterministically)."""

    __slots__ = ("_body", "_entry", "delta", "mark", "name", "sources", "type_url", "version")

    def __init__(
        self,
        type_url: str,
        name: str,
        version: str,
        body: bytes,
        sources: tuple[object, ...] = (),
    ) -> None:
        self.type_url, self.name, self.version = type_url, name, version
        any_bytes = wire.any_message(type_url, body)
        self.delta = wire.delta_resource(name, version, any_bytes)
        end = wire.any_end(self.delta, name)
        self._entry, self._body = (len(wire.text(1, version)), end), (end - len(body), end)
        # This name at this version as a 64-bit number: a table's version is their sum.
        named = hashlib.blake2b(f"{name}={version}".encode(), digest_size=8)
        self.mark = int.from_bytes(named.digest(), "big")
        # What it was built from (the translation's bytes, and its parent's Resource): when the
        # translator hands over the very same objects again, nothing is hashed or copied again.
        self.sources = sources

    @property
    def entry(self) -> bytes:
        """The Any with its field's tag and length: one of a DiscoveryResponse's resources."""
        return self.delta[slice(*self._entry)]

    @property
    def body(self) -> bytes:
        return self.delta[slice(*self._body)]

    def __repr__(self) -> str:
        return f"Resource({self.type_url!r}, {self.name!r}, {self.version!r})"


Table = immutables.Map[str, Resource]
EMPTY: Table = immutables.Map()
_NONE: frozenset[str] = frozenset()
_UNCHANGED: Mapping[str, frozenset[str]] = {t: _NONE for t in PUSH_ORDER}
_MASK = 2**64 - 1


def version_of_marks(total: int) -> str:
    """The version of a set of resources whose marks add up to `total` (in any order)."""
    return f"{total & _MASK:016x}"


def _version_of(resources: Iterable[Resource]) -> str:
    return version_of_marks(sum(r.mark for r in resources))


# Changed names past which sorting a table's names afresh is as quick as putting them in.
_REORDER_AFTER = 256


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


def sotw_response(
    type_url: str, resources: list[Resource], serial: int, version: str | None = None
) -> SotwResponse:
    """A DiscoveryResponse carrying exactly `resources`, versioned by them (or by `version`:
    a response carrying only what changed is versioned by all the client then holds).

    The nonce is the version and the snapshot's serial number: every stream sent this
    snapshot's response shares its bytes, and one stream never sees a nonce twice (a version
    can come back, as after A, B, A, but never from the same snapshot).
    """
    version = _version_of(resources) if version is None else version
    nonce = f"{version}.{serial}"
    body = wire.discovery_response(version, (r.entry for r in resources), type_url)
    return SotwResponse(version, nonce, wire.with_nonce(body, nonce))


# Numbers snapshots in the order this process built them, for nonces (see sotw_response).
_serials = itertools.count(1)


class Snapshot:
    """Resources by type and name. Immutable once built; responses are built once and shared:
    each type's full response for the snapshot's life, a response to names while a stream holds
    it (names come from clients: a set nobody asks for any more is not kept)."""

    def __init__(
        self,
        resources: Mapping[str, Mapping[str, Resource]],
        base: Snapshot | None = None,
        changed: Mapping[str, frozenset[str]] | None = None,
        sums: Mapping[str, int] | None = None,
        translation: int | None = None,
    ) -> None:
        """`changed`: the names that differ from `base`'s, by type (compared when not given);
        `sums`: each type's sum of marks (added up when not given); `translation`: the serial
        of the translation it was built from."""
        self.resources = {t: _table(resources.get(t, EMPTY)) for t in PUSH_ORDER}
        self._sums = (
            {t: sums[t] & _MASK for t in PUSH_ORDER}
            if sums is not None
            else {t: sum(r.mark for r in self.resources[t].values()) & _MASK for t in PUSH_ORDER}
        )
        self.serial = next(_serials)
        self.translation = translation
        self._every: dict[str, SotwResponse] = {}
        self._named: weakref.WeakValueDictionary[tuple[str, frozenset[str]], SotwResponse] = (
            weakref.WeakValueDictionary()
        )
        self._delta_every: dict[str, DeltaResponse] = {}
        self._version_maps: dict[str, dict[str, str]] = {}
        # Each table's names in order, once wanted; and the last snapshot's, to start from.
        self._orders: dict[str, list[str]] = {}
        self._inherited_orders = dict(base._orders) if base else {}
        # The names that differ from the snapshot this one was built from, by type: a stream
        # in sync with that one need look at nothing else.
        self.base_serial = base.serial if base else None
        # Its tables (sharing all but what changed with these): not the snapshot, which
        # would keep every one before it alive.
        self.base_resources = base.resources if base else {t: EMPTY for t in PUSH_ORDER}
        self.changed: dict[str, frozenset[str]] | None = None
        if base is not None:
            self.changed = {
                t: changed.get(t, _NONE)
                if changed is not None
                else _differing(base.resources[t], self.resources[t])
                for t in PUSH_ORDER
            }
        self._history = _history(base, self.changed, self.resources)
        self._since: dict[int | None, Mapping[str, frozenset[str]]] = {}

    def changes_since(self, serial: int | None) -> Mapping[str, frozenset[str]] | None:
        """The names that differ from snapshot `serial`'s, by type, when it is one this one
        was built from, a step or a few back; else None (compare the whole tables). A stream
        that skipped snapshots while it was busy still looks at only what changed."""
        if serial == self.serial:
            return _UNCHANGED
        steps = self._history
        if steps and steps[-1].base == serial:
            return steps[-1].changed  # in step with the last one: the common case
        if serial in self._since:  # streams as far behind share one union
            return self._since[serial]
        for start in range(len(steps) - 2, -1, -1):
            if steps[start].base == serial:
                since = {
                    t: frozenset().union(*(s.changed[t] for s in steps[start:])) for t in PUSH_ORDER
                }
                self._since[serial] = since
                return since
        return None

    @cached_property
    def versions(self) -> dict[str, str]:
        return {t: version_of_marks(self._sums[t]) for t in PUSH_ORDER}

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
                resources = [table[n] for n in self._order(type_url)]
                every = sotw_response(type_url, resources, self.serial, self.versions[type_url])
                self._every[type_url] = every
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
            table = self.resources[type_url]
            resources = [table[n] for n in self._order(type_url)]
            body = wire.delta_discovery_response(
                version, (r.delta for r in resources), type_url, (), nonce
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

    def _response(self, type_url: str, resources: list[Resource]) -> SotwResponse:
        return sotw_response(type_url, resources, self.serial)

    def _order(self, type_url: str) -> list[str]:
        """A table's names, sorted: the last snapshot's order with what changed put in or
        taken out (sorting 10,000 names for each snapshot took longer than all the rest of
        a full response)."""
        order = self._orders.get(type_url)
        if order is None:
            table = self.resources[type_url]
            before = self._inherited_orders.pop(type_url, None)
            changed = self.changed[type_url] if self.changed is not None else None
            if before is None or changed is None or len(changed) > _REORDER_AFTER:
                order = sorted(table)
            else:
                order = list(before)
                for name in changed:
                    at = bisect.bisect_left(order, name)
                    there = at < len(order) and order[at] == name
                    if there and name not in table:
                        del order[at]
                    elif not there and name in table:
                        order.insert(at, name)
            self._orders[type_url] = order
        return order

    @classmethod
    def build(cls, translation: Translation, previous: Snapshot | None = None) -> Snapshot:
        """`previous` with what the translation changed since the one `previous` was built
        from made again (every resource when that is not known); a resource whose bytes did
        not change is reused as is. The translation hands over resources serialized.

        A type `versioned_with` another (endpoints with clusters) has versions that also cover
        the same-named resource of that type.
        """
        known = (
            translation.changed
            if previous is not None
            and translation.base is not None
            and previous.translation == translation.base
            else None
        )
        tables: dict[str, Table] = {}
        sums: dict[str, int] = {}
        changed: dict[str, frozenset[str]] = {}
        for type_url in PUSH_ORDER:  # a type before the types versioned with it
            covered = BY_URL[type_url].versioned_with
            parents = tables[covered] if covered else EMPTY
            bodies = translation.resources[type_url]
            before = previous.resources[type_url] if previous else EMPTY
            names: Iterable[str]
            if known is None:
                names = itertools.chain(bodies, (n for n in before if n not in bodies))
            else:
                names = known.get(type_url, _NONE)
                if covered:  # a parent's new version is its same-named child's too
                    names = names | changed[covered]
            total = previous._sums[type_url] if previous else 0
            tables[type_url], sums[type_url], changed[type_url] = _patched(
                before, total, _resources(type_url, names, bodies, parents, before)
            )
        return cls(
            tables, previous, changed if previous else None, sums, translation=translation.serial
        )


@dataclass(frozen=True, slots=True)
class _Step:
    base: int  # the serial of the snapshot a snapshot was built from
    changed: Mapping[str, frozenset[str]]  # and the names it changed, by type
    size: int  # their number


def _history(
    base: Snapshot | None,
    changed: Mapping[str, frozenset[str]] | None,
    tables: Mapping[str, Mapping[str, Resource]],
) -> tuple[_Step, ...]:
    """The steps that led to a snapshot, newest last: as many as name fewer resources in all
    than its tables hold (past that, comparing the tables costs no more), at most _STEPS."""
    if base is None or changed is None:
        return ()
    newest = _Step(base.serial, changed, sum(len(names) for names in changed.values()))
    budget = sum(len(table) for table in tables.values())
    kept = [newest]
    total = newest.size
    for step in reversed(base._history[-(_STEPS - 1) :]):
        total += step.size
        if total > budget:
            break
        kept.append(step)
    return tuple(reversed(kept))


_STEPS = 64


def _resources(
    type_url: str,
    names: Iterable[str],
    bodies: Mapping[str, bytes],
    parents: Mapping[str, Resource],
    before: Table,
) -> Iterator[tuple[str, Resource | None]]:
    """Each name's resource (None: the translation has none): the one `before` has when made
    from the very same objects or to the same version (then nothing new is kept)."""
    for name in names:
        body, parent, reused = bodies.get(name), parents.get(name), before.get(name)
        if body is None:
            yield name, None
            continue
        sources = (body, parent)
        if reused is not None and same_objects(reused.sources, sources):
            yield name, reused
            continue
        version = digest(body, parent.version.encode()) if parent else digest(body)
        if reused is not None and reused.version == version:
            yield name, reused
        else:
            yield name, Resource(type_url, name, version, body, sources)


def _table(resources: Mapping[str, Resource]) -> Table:
    return resources if isinstance(resources, immutables.Map) else immutables.Map(resources)


def _patched(
    table: Table, total: int, updates: Iterable[tuple[str, Resource | None]]
) -> tuple[Table, int, frozenset[str]]:
    """`table` with each name given its resource (None: none), the sum of marks `total` brought
    along, and the names whose resource is another: a new map only when some is."""
    differing = []
    mutation = table.mutate()
    for name, new in updates:
        old = mutation.get(name)
        if new is old:
            continue
        if old is not None:
            total -= old.mark
            del mutation[name]
        if new is not None:
            total += new.mark
            mutation[name] = new
        differing.append(name)
    return (mutation.finish() if differing else table), total & _MASK, frozenset(differing)


class Groups(dict[str, Snapshot]):
    """Each node group's snapshot, and what the next cut starts from: the universe they were
    cut from (its serial), the selection each group was cut with, and which groups select
    each name."""

    def __init__(
        self,
        snapshots: Mapping[str, Snapshot] | None = None,
        universe: Snapshot | None = None,
        selections: Mapping[str, Selection] | None = None,
        index: _Index | None = None,
    ) -> None:
        super().__init__(snapshots or {})
        self.universe = universe.serial if universe else None
        self.selections = selections or {}
        self.index = index


class _Index:
    """Which groups select each name, by type, and which select every name of a type: the
    groups a change concerns, found from the names it changed."""

    def __init__(self, selections: Mapping[str, Selection]) -> None:
        self.naming: dict[str, dict[str, list[str]]] = {t: defaultdict(list) for t in PUSH_ORDER}
        self.every: dict[str, list[str]] = {t: [] for t in PUSH_ORDER}
        for group, selection in selections.items():
            for type_url in PUSH_ORDER:
                names = selection.get(type_url, _NONE)
                if names is None:
                    self.every[type_url].append(group)
                for name in names or ():
                    self.naming[type_url][name].append(group)

    def concerned(self, changed: Mapping[str, frozenset[str]]) -> set[str]:
        found: set[str] = set()
        for type_url, names in changed.items():
            if names:
                found.update(self.every[type_url])
                naming = self.naming[type_url]
                for name in names:
                    found.update(naming.get(name, ()))
        return found


_EVERYTHING: Selection = dict.fromkeys(PUSH_ORDER)


def by_group(universe: Snapshot, translation: Translation, previous: Groups) -> Groups:
    """Each node group's snapshot, made of `universe`'s resources (serialized once, shared).

    A group's snapshot is its last one with the names `universe` changed within its selection
    (and those its selection gained or lost); one none of whose resources changed keeps that
    snapshot, responses and all; one served everything is served `universe` itself. While no
    group's selection changes, only the groups selecting a changed name are looked at.
    """
    selections = translation.groups
    if selections is None:
        return Groups({UNNAMED: universe}, universe, {UNNAMED: _EVERYTHING})
    changed = universe.changed
    in_step = changed is not None and universe.base_serial == previous.universe
    index = previous.index
    if changed is not None and in_step and selections is previous.selections and index is not None:
        snapshots = dict(previous)
        for group in index.concerned(changed):
            selection = selections[group]
            snapshots[group] = _select(universe, selection, previous[group], selection)
        return Groups(snapshots, universe, selections, index)
    return Groups(
        {
            group: _select(
                universe,
                selection,
                previous.get(group),
                previous.selections.get(group) if in_step else None,
            )
            for group, selection in selections.items()
        },
        universe,
        selections,
        _Index(selections),
    )


def _select(
    universe: Snapshot, selection: Selection, before: Snapshot | None, cut: Selection | None
) -> Snapshot:
    """The group's snapshot: `before` brought up to date. `cut`: the selection `before` was
    cut with from the universe `universe` was built from (None: not known, so every name it
    has or had is looked at)."""
    # What changed in the universe since `before` was cut, when that is known.
    since = universe.changed if before is not None and cut is not None else None
    tables: dict[str, Table] = {}
    sums: dict[str, int] = {}
    differing: dict[str, frozenset[str]] = {}
    for type_url in PUSH_ORDER:
        names = selection.get(type_url, _NONE)
        every = universe.resources[type_url]
        old = before.resources[type_url] if before else EMPTY
        was = cut.get(type_url, _NONE) if cut is not None else _NONE
        if names is None:
            tables[type_url], sums[type_url] = every, universe._sums[type_url]
            if before is not None:
                # In step when it had every name then too.
                differing[type_url] = (
                    since[type_url] if since is not None and was is None else _differing(old, every)
                )
            continue
        candidates: Iterable[str]
        if since is None:
            candidates = itertools.chain(names, old)
        else:
            candidates = since[type_url] & names
            if was is not names:  # and what it gained or lost
                candidates |= names.symmetric_difference(old if was is None else was)
        total = before._sums[type_url] if before else 0
        tables[type_url], sums[type_url], differing[type_url] = _patched(
            old, total, ((n, every.get(n) if n in names else None) for n in candidates)
        )
    if all(len(tables[t]) == len(universe.resources[t]) for t in PUSH_ORDER):
        return universe
    if before is not None and not any(differing.values()):
        return before
    return Snapshot(tables, before, differing if before else None, sums)


def _differing(old: Mapping[str, Resource], new: Mapping[str, Resource]) -> frozenset[str]:
    """Names added, changed (a new Resource) or removed between two tables (O(N))."""
    if old is new:
        return _NONE
    return frozenset(
        [*(n for n, r in new.items() if old.get(n) is not r), *(n for n in old if n not in new)]
    )
