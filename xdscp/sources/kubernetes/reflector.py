"""One resource in one scope, listed and then watched, the way client-go's reflector does it.

It runs in a thread of its own (the client blocks) and hands every result to `emit`: a full
list as one event, so whoever applies it can swap the whole scope at once, then each change.
A watch that ends is resumed from the last resourceVersion seen (bookmarks keep it fresh); a
410 Gone means that version is too old, and the scope is listed again.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from xdscp.sources.kubernetes.api import JSON, ApiError, Query
from xdscp.sources.kubernetes.kinds import WITH_STATUS, Resource
from xdscp.sources.kubernetes.trim import kept

log = logging.getLogger("xdscp.kubernetes")
GONE = 410
# Answers that will not change by retrying soon: the resource is not there for us. Anything
# else (no answer, 5xx while the server starts) is retried without pretending it is empty.
UNAVAILABLE = {403: "forbidden", 404: "not served by the API server (is its CRD installed?)"}


@dataclass(frozen=True)
class Scope:
    resource: Resource
    namespace: str | None  # None: every namespace

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace is not None else ""
        return f"{self.resource.selected}{where}"

    @property
    def selector(self) -> list[tuple[str, str]]:
        """The query parameters that narrow the list and the watch to this scope's objects."""
        selector = self.resource.field_selector
        return [("fieldSelector", selector)] if selector else []

    @property
    def path(self) -> str:
        return self.resource.path(self.namespace)


@dataclass(frozen=True)
class Listed:
    scope: Scope
    objects: tuple[JSON, ...]
    # Listed too, the same version as last handed on: of a kind whose bodies the store does not
    # keep, only the names (namespace, name) are handed on again.
    unchanged: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Changed:
    scope: Scope
    object: JSON


@dataclass(frozen=True)
class Deleted:
    scope: Scope
    object: JSON


@dataclass(frozen=True)
class Unavailable:
    """The server answered but will not list this resource (not installed, or forbidden)."""

    scope: Scope
    message: str


Event = Listed | Changed | Deleted | Unavailable


@dataclass(frozen=True)
class Timing:
    page_size: int = 500
    watch_seconds: int = 300  # each watch asks to end after 1-2x this, as client-go jitters it
    backoff_initial: float = 0.2
    # Short: an API server coming back is seen within a second (a patch made then reaches
    # Envoy soon after); a failed attempt costs the server next to nothing.
    backoff_max: float = 1.0
    shortest_watch: float = 1.0  # a watch ending sooner with no event counts as a failure
    optional_retry: float = 60.0  # how often a refused optional kind is asked for again


class _Gone(Exception):
    """The resourceVersion to watch from is older than the server keeps: list again."""


class Lister(Protocol):
    """What a reflector asks of the API server (api.Api; a scripted fake in the tests)."""

    def get(self, path: str, query: Query = ()) -> JSON: ...

    def watch(self, path: str, query: Query, read_timeout: float) -> Iterator[JSON]: ...


class Reflector:
    def __init__(
        self,
        api: Lister,
        scope: Scope,
        emit: Callable[[Event], None],
        stop: threading.Event,
        timing: Timing = Timing(),
    ) -> None:
        self.api, self.scope, self._emit, self._stop, self.timing = api, scope, emit, stop, timing
        self._went_without = False
        # What was last handed on, by name. Of a kind whose bodies the store keeps (its status
        # is written), the body: a relist hands on these very objects where the server's copy
        # is the same. Of the others, the resourceVersion: a relist drops an unchanged body as
        # soon as it is parsed and names it (`Listed.unchanged`). Either way a relist of
        # 10,000 unchanged objects never holds a second copy of each (memory freed after such
        # a peak is seldom given back).
        self._held: dict[tuple[str, str], JSON] = {}
        self._versions: dict[tuple[str, str], str] = {}
        self._whole = scope.resource in WITH_STATUS

    def run(self) -> None:
        """List, then watch from the list's resourceVersion, until `stop` is set."""
        version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
                failures = 0
            except _Gone:
                log.info("%s: watch expired (410 Gone); listing again", self.scope)
                version = None
            except ApiError as err:
                failures += 1
                if version is None and err.status in UNAVAILABLE:
                    if self.scope.resource.optional:
                        self._go_without(err.status)
                        continue
                    self._emit(Unavailable(self.scope, f"{UNAVAILABLE[err.status]}: {err}"))
                delay = self._backoff(failures)
                log.warning("%s: %s; retrying in %.1f s", self.scope, err, delay)
                self._stop.wait(delay)

    def _go_without(self, status: int) -> None:
        """An optional kind we may not read counts as listed and empty; asked again now and
        then, so granting it later needs no restart."""
        if not self._went_without:
            self._went_without = True
            log.info(
                "%s: %s; going on without it, asking again every %.0f s",
                self.scope,
                UNAVAILABLE[status],
                self.timing.optional_retry,
            )
            self._held, self._versions = {}, {}
            self._emit(Listed(self.scope, ()))
        self._stop.wait(self.timing.optional_retry)

    def _list(self) -> str:
        objects: list[JSON] = []
        unchanged: list[tuple[str, str]] = []
        token = ""
        while True:
            query = [*self.scope.selector, ("limit", str(self.timing.page_size))]
            if token:
                query.append(("continue", token))
            with _relist_on_gone():
                page = self.api.get(self.scope.path, query)
            for item in page.get("items") or ():
                if self._unchanged(item):
                    unchanged.append(_name(item))
                else:
                    objects.append(self._same(kept(self.scope.resource, item)))
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                if self._whole:
                    self._held = {_name(o): o for o in objects}
                else:
                    versions = {name: self._versions[name] for name in unchanged}
                    versions.update((_name(o), _version(o)) for o in objects)
                    self._versions = versions
                self._emit(Listed(self.scope, tuple(objects), frozenset(unchanged)))
                log.debug("%s: listed %d objects", self.scope, len(objects))
                return str(meta.get("resourceVersion", ""))

    def _watch(self, version: str) -> str:
        seconds = int(self.timing.watch_seconds * (1 + random.random()))
        query = [
            *self.scope.selector,
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(seconds)),
        ]
        started, events = time.monotonic(), 0
        with _relist_on_gone():
            for event in self.api.watch(self.scope.path, query, read_timeout=seconds + 30):
                events += 1
                version = self._handle(event, version)
                if self._stop.is_set():
                    break
        if not events and time.monotonic() - started < self.timing.shortest_watch:
            raise ApiError(0, "the watch ended as soon as it began")
        return version

    def _handle(self, event: JSON, version: str) -> str:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":  # a Status object
            if body.get("code") == GONE:
                raise _Gone
            raise ApiError(int(body.get("code") or 0), str(body.get("message")))
        version = str((body.get("metadata") or {}).get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED"):
            changed = kept(self.scope.resource, body)
            if self._whole:
                self._held[_name(body)] = changed
            else:
                self._versions[_name(body)] = _version(changed)
            self._emit(Changed(self.scope, changed))
        elif kind == "DELETED":
            self._held.pop(_name(body), None)
            self._versions.pop(_name(body), None)
            self._emit(Deleted(self.scope, kept(self.scope.resource, body)))
        return version  # a BOOKMARK only moves the resourceVersion on

    def _unchanged(self, item: JSON) -> bool:
        """Of a kind whose bodies the store does not keep: listed at the version handed on."""
        version = _version(item)
        return not self._whole and bool(version) and self._versions.get(_name(item)) == version

    def _same(self, body: JSON) -> JSON:
        """`body`, or the equal object handed on before."""
        held = self._held.get(_name(body))
        return held if held == body else body

    def _backoff(self, failures: int) -> float:
        delay = min(self.timing.backoff_initial * 2.0 ** (failures - 1), self.timing.backoff_max)
        return delay * random.uniform(0.8, 1.2)


def _name(body: JSON) -> tuple[str, str]:
    """Interned: held per object, and the model holds the same strings once."""
    meta = body.get("metadata") or {}
    return (sys.intern(str(meta.get("namespace", ""))), sys.intern(str(meta.get("name", ""))))


def _version(body: JSON) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


@contextmanager
def _relist_on_gone() -> Iterator[None]:
    try:
        yield
    except ApiError as err:
        if err.status == GONE:
            raise _Gone from err
        raise
