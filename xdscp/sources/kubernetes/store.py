"""Every watched object as the API server stores it, and the typed view the pipeline gets.

The store lives on the event loop: reflector threads hand their events over with
`call_soon_threadsafe`, so an event, or a whole list, is applied completely or not at all
before the next view is built. An object is validated once per change of its content; a
change of status alone (our own writes) never rebuilds the view. Each view is the last one with
the objects changed since put in (`Resources.replacing`), so building it, and learning from it
what changed, costs what changed, not every object held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import immutables

from xdscp.model.base import KubeObject
from xdscp.model.load import Document, load
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, ObjectKey, Resources
from xdscp.sources import Update
from xdscp.sources.kubernetes.api import JSON
from xdscp.sources.kubernetes.kinds import WITH_STATUS, Resource
from xdscp.sources.kubernetes.reflector import (
    Changed,
    Deleted,
    Event,
    Listed,
    Scope,
    Unavailable,
)

SOURCE = "kubernetes"  # Problem.source of everything read from the API server


@dataclass(frozen=True)
class _Entry:
    # As last stored, status included, of a kind whose status xdscp writes (the writer reads
    # it). The other kinds are compared by resourceVersion and then by their model instead:
    # their bodies were two thirds of what the watches held (~30 MB at 10,000 Services).
    body: JSON | None
    version: str  # metadata.resourceVersion
    object: KubeObject | None  # the current version if valid, else the last valid one
    problems: tuple[Problem, ...]


class Store:
    def __init__(self, scopes: Iterable[Scope]) -> None:
        self._entries: dict[Scope, dict[ObjectKey, _Entry]] = {scope: {} for scope in scopes}
        self._listed: set[Scope] = set()
        self._unavailable: dict[Scope, str] = {}
        self._view: Resources | None = None  # the objects of the last Update
        # The objects whose configuration changed since that view (by the scope they are in).
        self._touched: dict[ObjectKey, Scope] = {}
        # Each object's problems, for those with any, and every problem as last handed out
        # (None: to be gathered again).
        self._problems: dict[ObjectKey, tuple[Problem, ...]] = {}
        self._gathered: tuple[Problem, ...] | None = None
        # The objects of each kind whose status xdscp writes, as last stored: persistent, so
        # the map as it stood when an Update was handed out stays as it was, at no copy.
        self._stored: dict[Resource, immutables.Map[Key, JSON]] = {
            resource: immutables.Map() for resource in WITH_STATUS
        }
        self.changed = asyncio.Event()  # the configuration changed: a new Update is due
        self.on_status: Callable[[], None] = lambda: None  # only some status changed
        # One of those objects was stored anew (its status, its spec, or it is gone).
        self.on_stored: Callable[[Resource, Key], None] = lambda resource, key: None

    @property
    def synced(self) -> bool:
        """Every scope has been listed once, or found missing: a first view can be served."""
        return all(s in self._listed or s in self._unavailable for s in self._entries)

    def apply(self, event: Event) -> None:
        match event:
            case Listed(scope, objects, unchanged):
                self._replace(scope, objects, unchanged)
            case Changed(scope, body):
                self._put(scope, body)
            case Deleted(scope, body):
                key = _key(body)
                if self._entries[scope].pop(key, None) is not None:
                    self._touch(scope, key, ())
                    self._store(scope.resource, {}, [key])
                    self.changed.set()
            case Unavailable(scope, message):
                if self._unavailable.get(scope) != message:
                    self._unavailable[scope] = message
                    self._gathered = None
                    self.changed.set()

    def update(self) -> Update:
        """The valid objects of every scope (or their last valid versions) and every problem."""
        if self._gathered is None:
            problems = [p for found in self._problems.values() for p in found]
            problems.extend(
                Problem(SOURCE, "", scope.namespace or "", scope.resource.selected, "", message)
                for scope, message in self._unavailable.items()
            )
            self._gathered = tuple(sorted(problems))
        return Update(self._resources(), self._gathered)

    def _resources(self) -> Resources:
        """The last view with what changed since put in (the same view if nothing did)."""
        touched, self._touched = self._touched, {}
        if self._view is None:
            self._view = Resources.of(
                e.object
                for scoped in self._entries.values()
                for e in scoped.values()
                if e.object is not None
            )
            return self._view
        tables = dict(self._view.tables())
        objects: list[KubeObject] = []
        removed: list[ObjectKey] = []
        for key, scope in touched.items():
            entry = self._entries[scope].get(key)
            current = None if entry is None else entry.object
            if current is not tables[key[0]].get(key[1:]):  # not an invalid version held back
                if current is None:
                    removed.append(key)
                else:
                    objects.append(current)
        if objects or removed:
            self._view = self._view.replacing(objects, removed)
        return self._view

    def objects(self, resource: Resource) -> Mapping[Key, JSON]:
        """Every object of a kind whose status xdscp writes, as last stored, valid or not."""
        return self._stored[resource]

    def _replace(
        self, scope: Scope, objects: Iterable[JSON], unchanged: Iterable[Key] = ()
    ) -> None:
        old = self._entries[scope]
        kind = scope.resource.kind
        # Held as they are: the reflector handed each on before, at the version listed now.
        new = {key: old[key] for key in ((kind, *name) for name in unchanged) if key in old}
        was_unavailable = self._unavailable.pop(scope, None) is not None
        if was_unavailable:
            self._gathered = None
        config_changed = was_unavailable or scope not in self._listed
        status_changed = False
        stored: dict[ObjectKey, JSON] = {}
        for body in objects:
            key = _key(body)
            prior = old.get(key)
            new[key], changed = _entry(scope.resource, key, body, prior)
            if changed:
                self._touch(scope, key, new[key].problems)
            if prior is None or new[key].body is not prior.body:
                stored[key] = body
                status_changed |= not changed
            config_changed |= changed
        gone = old.keys() - new.keys()
        for key in gone:
            self._touch(scope, key, ())
            config_changed = True
        self._entries[scope] = new  # one swap: the view never holds half a list
        status_changed &= self._store(scope.resource, stored, gone)
        self._listed.add(scope)
        self._notify(config_changed, status_changed)

    def _put(self, scope: Scope, body: JSON) -> None:
        key = _key(body)
        prior = self._entries[scope].get(key)
        entry, changed = _entry(scope.resource, key, body, prior)
        self._entries[scope][key] = entry
        if changed:
            self._touch(scope, key, entry.problems)
        if prior is None or entry.body is not prior.body:
            stored = self._store(scope.resource, {key: body}, ())
        else:
            stored = False
        self._notify(changed, not changed and stored)

    def _store(
        self, resource: Resource, bodies: Mapping[ObjectKey, JSON], gone: Collection[ObjectKey]
    ) -> bool:
        """Whether the kind is one whose status xdscp writes (then the bodies are kept, and
        told): only that status is xdscp's to keep true; a Node's heartbeat is nothing to us."""
        table = self._stored.get(resource)
        if table is None:
            return False
        if not bodies and not gone:
            return True
        with table.mutate() as changing:
            for key, body in bodies.items():
                changing[key[1:]] = body
            for key in gone:
                changing.pop(key[1:], None)
            self._stored[resource] = changing.finish()
        for key in (*bodies, *gone):
            self.on_stored(resource, key[1:])
        return True

    def _touch(self, scope: Scope, key: ObjectKey, problems: tuple[Problem, ...]) -> None:
        """The object's configuration changed (or it is gone: no problems)."""
        self._touched[key] = scope
        if self._problems.get(key, ()) != problems:
            self._gathered = None
            if problems:
                self._problems[key] = problems
            else:
                del self._problems[key]

    def _notify(self, config_changed: bool, status_changed: bool) -> None:
        if config_changed:
            self.changed.set()
        elif status_changed:
            self.on_status()


def _entry(
    resource: Resource, key: ObjectKey, body: JSON, old: _Entry | None
) -> tuple[_Entry, bool]:
    """The entry for a new body, and whether its configuration changed."""
    whole, version = resource in WITH_STATUS, _version(body)
    if old is not None and (old.body == body if whole else version and old.version == version):
        return old, False  # a relist's copy of what is held: the copy is dropped, not kept
    # What configures something (the body without status and bookkeeping) is compared, not
    # kept: two more dicts per object, at 10,000 objects and more, for a rare comparison.
    if old is not None and old.body is not None and _content(old.body) == _content(body):
        return replace(old, body=body, version=version), False
    previous: Mapping[ObjectKey, KubeObject] = {key: old.object} if old and old.object else {}
    loaded = load([Document(SOURCE, body)], previous)
    found, problems = loaded.objects.get(key), tuple(loaded.problems)
    if (
        not whole
        and old is not None
        and old.problems == problems
        and _configuration(old.object) == _configuration(found)
    ):
        return replace(old, version=version), False  # a new version of the same (its status)
    return _Entry(body if whole else None, version, found, problems), True


def _content(body: JSON) -> JSON:
    meta: dict[str, Any] = dict(body.get("metadata") or {})
    for bookkeeping in ("resourceVersion", "managedFields"):
        meta.pop(bookkeeping, None)
    return {**{k: v for k, v in body.items() if k != "status"}, "metadata": meta}


def _configuration(obj: KubeObject | None) -> object:
    """What an object configures: the model as `_content` is of a body (no status, no
    resourceVersion)."""
    if obj is None:
        return None
    return (type(obj), obj.model_dump(exclude={"status": True, "metadata": {"resource_version"}}))


def _version(body: JSON) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


def _key(body: JSON) -> ObjectKey:
    meta = body.get("metadata") or {}
    return (str(body.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", "")))
