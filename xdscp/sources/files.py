"""Objects from a directory (or files) of multi-document YAML, reloaded on every change.

A file that fails to parse keeps its last good objects; an object that fails validation keeps
its last good version. Either way the problem is reported and nothing already served is lost.

Watching cannot go stale: the watcher follows what each root resolves to now (a directory
removed and made again, a symlink re-pointed), and whenever what changed is not exactly a set
of files the whole tree is read again. An object leaves only once it has been absent for
`grace` seconds, so a save in progress (a file truncated, then written) or a tree being
replaced never removes anything on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import immutables
from watchfiles import awatch

from xdscp.model.base import KubeObject
from xdscp.model.problems import Problem
from xdscp.model.resources import ObjectKey, Resources
from xdscp.sources import Update, inotify
from xdscp.sources.yamlfile import LoadedFile, file_problem, read, signature_of

log = logging.getLogger("xdscp.sources.files")
SUFFIXES = (".yaml", ".yml", ".json")
# How long an object may be missing from its files before it is removed while serving: longer
# than a save (`kubectl get -o yaml > file` leaves the file empty for a request's length).
REMOVAL_GRACE_SECONDS = 3.0
# How often the roots are checked for being replaced, and held removals for being due.
TICK_MS = 500

Identity = tuple[str, int, int] | None  # what a root resolves to: real path, device, inode
# How often the whole tree is looked at anyway, by stat: a change no event reported (a bind
# mount that delivers none, a dropped event) is served within this many seconds.
RESCAN_SECONDS = 10.0


@dataclass
class _Held:
    """An object gone from its file, still served until `since + grace`."""

    obj: KubeObject
    origin: str
    since: float


class FileSource:
    def __init__(
        self,
        paths: Iterable[Path],
        grace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Files are named as the user named their roots (`policies/a.yaml`); the watcher's
        # absolute paths are mapped back to those names. Symlinks are kept as given, so
        # re-pointing one is seen.
        self.paths = tuple(Path(p) for p in paths)
        self.grace, self._clock = grace, clock
        self._files: dict[Path, LoadedFile] = {}
        self._sorted = True  # whether `_files` is in path order (the order duplicates lose in)
        self._served: dict[ObjectKey, KubeObject] = {}
        # Each object's file, as the views carry it: persistent, so a view made by changing a
        # few shares the rest with the last one.
        self._origins: immutables.Map[ObjectKey, str] = immutables.Map()
        self._last: Update | None = None
        # Whether the last view's only problems are the removals held (no file unread, no
        # object invalid or duplicated): then a change can be read by itself (`_changed`).
        self._clean = False
        self._held: dict[ObjectKey, _Held] = {}

    def rescan(self) -> Update | None:
        """Every file looked at again, read only if its stat changed: a new view if anything
        did (None if nothing), whatever the watcher reported."""
        return self.rescanned(_finish(stat_changes(self.paths, self._files)))

    def rescanned(self, changed: set[Path] | None) -> Update | None:
        """The view once `stat_changes` found these files changed (read as the watcher's
        paths are); None: a root is missing, and everything is read again, trusting stat."""
        if changed is not None:
            last = self._last
            return None if not changed or (update := self.load(changed)) is last else update
        before, last = list(self._files.items()), self._last
        update = self.load(trust_stat=True)
        after = list(self._files.items())
        same = len(before) == len(after) and all(
            a[0] == b[0] and a[1] is b[1] for a, b in zip(before, after, strict=True)
        )
        if same and last is not None and update.problems == last.problems:
            return None
        return update

    def load(self, changed: Iterable[Path] | None = None, *, trust_stat: bool = False) -> Update:
        """One consistent view of every file. With the paths the watcher named, only those are
        read again, unless something other than files changed; unchanged content is never
        re-parsed."""
        changed = None if changed is None else set(changed)
        if changed is not None and (quick := self._changed(changed)) is not None:
            return quick
        problems: list[Problem] = []
        if changed is None or not self._only_files_changed(changed):
            self._files = self._read_all(problems, trust_stat)
        else:
            for path in filter(self._watched_file, changed):  # editors' temporary files aside
                if path.is_file():
                    self._sorted = self._sorted and path in self._files  # one in place keeps it
                    self._files[path] = read(path, self._files.get(path, LoadedFile()))
                else:
                    self._files.pop(path, None)
            if not self._sorted:
                self._files = dict(sorted(self._files.items()))
        self._sorted = True
        objects: dict[ObjectKey, KubeObject] = {}
        origin: dict[ObjectKey, str] = {}
        for path, loaded in self._files.items():
            problems.extend(loaded.problems)
            for key, obj in loaded.objects.items():
                if key in objects:
                    problems.append(
                        Problem(
                            str(path), *key, "metadata.name", f"duplicate: also in {origin[key]}"
                        )
                    )
                    continue
                objects[key], origin[key] = obj, str(path)
        self._clean = not problems
        problems.extend(self._hold_removed(objects, origin))
        self._last = Update(Resources.of(objects.values(), self._origins), tuple(problems))
        return self._last

    def _changed(self, changed: set[Path]) -> Update | None:
        """The common edits, in O(what changed): files saved, added or deleted, objects
        changed, added or removed, each file read to valid objects no other file holds, after
        a view with no problem but the removals held. The last view with those objects put
        in or taken out (`Resources.replacing`). Anything else (None) takes the full path,
        which re-merges every file."""
        last = self._last
        if last is None or not self._clean or not self._only_files_changed(changed):
            return None
        reads: dict[Path, LoadedFile] = {}
        for path in filter(self._watched_file, changed):  # editors' temporary files aside
            if path.is_file():
                reads[path] = read(path, self._files.get(path, LoadedFile()))
                if reads[path].problems:
                    return None
        deleted = [p for p in changed if p in self._files and p not in reads]
        put: dict[ObjectKey, tuple[KubeObject, str]] = {}
        gone: set[ObjectKey] = set()
        for path in (*reads, *deleted):
            before = self._files[path].objects if path in self._files else {}
            after = reads[path].objects if path in reads else {}
            for key, obj in after.items():
                elsewhere = key not in before and key in self._served and key not in self._held
                if elsewhere or key in put:
                    # Also in another file, or moved between two read now: the full path says
                    # which one is served and which is a duplicate.
                    return None
                if obj is not self._served.get(key):  # (a file's unchanged objects are kept)
                    put[key] = (obj, str(path))
            gone.update(before.keys() - after.keys())
        now, removed = self._clock(), []
        for key in put.keys() & self._held.keys():  # back: the save completed
            del self._held[key]
        for key in gone:
            if self.grace > 0:
                self._held[key] = _Held(self._served[key], self._origins[key], now)
            else:
                removed.append(key)
        for key, held in list(self._held.items()):
            if now - held.since >= self.grace:
                del self._held[key]
                removed.append(key)
        for path in deleted:
            del self._files[path]
        self._sorted = self._sorted and reads.keys() <= self._files.keys()
        self._files.update(reads)
        origins = None
        if put or removed:
            with self._origins.mutate() as mutable:
                for key, (obj, origin) in put.items():
                    self._served[key], mutable[key] = obj, origin
                for key in removed:
                    del self._served[key], mutable[key]
                origins = self._origins = mutable.finish()
        still = sorted(self._held.items())
        problems = tuple(_still_served(k, h, self.grace) for k, h in still)
        if put or removed or problems != last.problems:
            resources = last.resources.replacing((o for o, _ in put.values()), removed, origins)
            self._last = Update(resources, problems)
        return self._last

    def due(self) -> bool:
        """Whether a held removal is due, so a view without it should be served."""
        now = self._clock()
        return any(now - held.since >= self.grace for held in self._held.values())

    async def updates(self, debounce_ms: int = 20) -> AsyncIterator[Update]:
        """The first full view once every root exists, then a new one after every change on
        disk. Until then nothing is yielded: serving an empty view would empty every Envoy."""
        while missing := [p for p in self.paths if not p.exists()]:
            log.warning("waiting for %s to exist", ", ".join(map(str, missing)))
            await asyncio.sleep(TICK_MS / 1000)
        yield self.load()
        while True:
            identities = self._identities()
            # A save made while the last full view was read and served (seconds, at 10,000
            # Services) brought no event to a watch that had not begun: the files are looked
            # at once it has, at its first quiet tick.
            next_rescan = time.monotonic()
            try:
                async with contextlib.aclosing(self._changes(identities, debounce_ms)) as batches:
                    async for changed in batches:
                        if self._identities() != identities:
                            log.info("a watched path was replaced; reading everything again")
                            break
                        if changed:
                            yield self.load(changed)
                        elif self.due():
                            yield self.load(())
                        elif time.monotonic() >= next_rescan:
                            next_rescan = time.monotonic() + RESCAN_SECONDS
                            # Statting every file takes a while (~80 ms at 10,000): on the
                            # loop, a step at a time, so no change waits behind it. (In a
                            # thread, its Python held the GIL from the loop in 5 ms slices.)
                            changes = await _stepped(stat_changes(self.paths, self._files))
                            if (found := self.rescanned(changes)) is not None:
                                log.info("found a change no event reported; serving it")
                                yield found
            except FileNotFoundError:  # a root vanished between looking and watching
                await asyncio.sleep(TICK_MS / 1000)
            yield self.load()

    async def _changes(
        self, identities: dict[Path, Identity], debounce_ms: int
    ) -> AsyncGenerator[set[Path], None]:
        """Paths changed under the roots as they are now (seen through the roots), and an
        empty set every tick. The watcher is on what each root resolves to: a watch on a
        directory that is removed, or through a link re-pointed since, would see nothing."""
        targets = {root: Path(found[0]) for root, found in identities.items() if found}
        if not targets:
            while True:
                await asyncio.sleep(TICK_MS / 1000)
                yield set()
        watched = sorted(set(targets.values()))
        if inotify.available():
            watcher = inotify.Watcher(watched)
            try:
                # A save's events come together: a batch ends 1 ms after the last of them.
                batches = watcher.batches(TICK_MS / 1000, 0.001, debounce_ms / 1000)
                async with contextlib.aclosing(batches):
                    async for paths in batches:
                        yield {_seen_as(path, targets) for path in paths}
            finally:
                watcher.close()
            return
        # Elsewhere (macOS): a watcher thread that looks every 2 ms.
        async for batch in awatch(
            *watched,
            debounce=debounce_ms,
            step=2,
            rust_timeout=TICK_MS,
            yield_on_timeout=True,
            recursive=True,
        ):
            yield {_seen_as(Path(path), targets) for _, path in batch}

    def _identities(self) -> dict[Path, Identity]:
        return {root: _identity(root) for root in self.paths}

    def _hold_removed(
        self, objects: dict[ObjectKey, KubeObject], origin: dict[ObjectKey, str]
    ) -> list[Problem]:
        """Keep serving what vanished less than `grace` ago, and say so."""
        now, problems = self._clock(), []
        for key in self._held.keys() & objects.keys():  # back: the save completed
            del self._held[key]
        gone = sorted(self._served.keys() - objects.keys()) if self.grace > 0 else ()
        for key in gone:
            held = self._held.setdefault(key, _Held(self._served[key], self._origins[key], now))
            if now - held.since >= self.grace:
                del self._held[key]
                continue
            objects[key], origin[key] = held.obj, held.origin
            problems.append(_still_served(key, held, self.grace))
        self._served, self._origins = objects, immutables.Map(origin)  # the caller's own
        return problems

    def _only_files_changed(self, changed: set[Path]) -> bool:
        """Whether re-reading just these paths gives the whole truth. Not when a link or a
        directory changed (a ConfigMap volume swaps its `..data` link, and every file seen
        through it changes without an event of its own), nor for a path the watcher names
        that is not a file we know or could know."""
        known = self._files.keys()
        if not all(root.exists() for root in self.paths):
            return False  # a missing root keeps its objects, which only a full read knows

        def held_nothing(gone: Path) -> bool:
            # A path gone that held no file of ours. A hidden one (an atomic save's temporary
            # file, renamed away) never could: only its name is looked at, not every file.
            hidden = gone.name.startswith(".")
            return hidden or not any(k.is_relative_to(gone) for k in known)

        return all(
            not (p.is_symlink() or p.is_dir() or any(part.startswith("..") for part in p.parts))
            and (p.exists() or p in known or held_nothing(p))
            and any(p == root or p.is_relative_to(root) for root in self.paths)
            for p in changed
        )

    def _watched_file(self, path: Path) -> bool:
        return any(
            path == root or (root.is_dir() and path.is_relative_to(root) and _visible(path, root))
            for root in self.paths
        )

    def _read_all(
        self, problems: list[Problem], trust_stat: bool = False
    ) -> dict[Path, LoadedFile]:
        """Every file under every root. A root that is missing keeps its files' last good
        objects (reported): a directory being replaced is no removal."""
        files: dict[Path, LoadedFile] = {}
        for root in self.paths:
            if root.is_dir():
                found = _listed(root)
            elif root.exists():
                found = [root]
            else:
                problems.append(_missing(root))
                found = [p for p in self._files if p == root or p.is_relative_to(root)]
                files.update((p, self._files[p]) for p in found)
                continue
            files.update((p, read(p, self._files.get(p, LoadedFile()), trust_stat)) for p in found)
        return dict(sorted(files.items()))


def stat_changes(
    roots: Iterable[Path], files: Mapping[Path, LoadedFile]
) -> Steps[set[Path] | None]:
    """The files under `roots` whose stat is not the one they were read with (`files`), those
    new and those gone: what a rescan reads. None when a root is missing: only a full read
    says what is kept then. Yields every STEP files (see `_stepped`)."""
    found: set[Path] = set()
    changed: set[Path] = set()
    for root in roots:
        if root.is_dir():
            listed: Iterable[Path] = _walk(root)
        elif root.exists():
            listed = [root]
        else:
            return None
        for count, path in enumerate(listed, 1):
            found.add(path)
            known = files.get(path)
            if known is None or signature_of(path) != known.signature:
                changed.add(path)
            if count % STEP == 0:
                yield
    return changed | (files.keys() - found)


# Files looked at between two turns of the event loop in a rescan (~2 ms).
STEP = 256
T = TypeVar("T")
Steps = Generator[None, None, T]


class _Run(Generic[T]):
    """Work done in steps (a generator that yields between steps and returns its result)."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps

    def step(self) -> bool:
        """One more step; True once done (the result is then in `result`)."""
        try:
            next(self._steps)
        except StopIteration as done:
            self.result: T = done.value
            return True
        return False


async def _stepped(steps: Steps[T]) -> T:
    """Run `steps` on the event loop, letting it turn between steps."""
    run = _Run(steps)
    while not run.step():
        await asyncio.sleep(0)
    return run.result


def _finish(steps: Steps[T]) -> T:
    run = _Run(steps)
    while not run.step():
        pass
    return run.result


def _listed(root: Path) -> list[Path]:
    """The files under a directory that are read, in order."""
    return sorted(_walk(root))


def _walk(root: Path) -> Iterator[Path]:
    """The files under a directory that are read (as `_visible` says), found with scandir: a
    tenth of rglob's cost. Links to files count; links to directories are not followed."""
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # gone since it was listed
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = directory / entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif path.suffix in SUFFIXES and entry.is_file():
                yield path


def _identity(root: Path) -> Identity:
    try:
        info = root.stat()
    except OSError:
        return None
    return (os.path.realpath(root), info.st_dev, info.st_ino)


def _seen_as(path: Path, targets: dict[Path, Path]) -> Path:
    """A path the watcher reports (under what a root resolves to) as seen through the root."""
    for root, target in targets.items():
        if path == target or path.is_relative_to(target):
            return root / path.relative_to(target)
    return path


def _visible(path: Path, root: Path) -> bool:
    """YAML files not hidden: editors' temporary files and a ConfigMap volume's `..data`
    and `..<timestamp>` directories (its top-level links point into them) are left out."""
    relative = path.relative_to(root)
    return path.suffix in SUFFIXES and not any(p.startswith(".") for p in relative.parts)


def _still_served(key: ObjectKey, held: _Held, grace: float) -> Problem:
    message = f"gone from its file; still served for {grace:g} s in case a save is in progress"
    return Problem(held.origin, *key, "", message)


def _missing(root: Path) -> Problem:
    return file_problem(root, "no such file or directory; keeping its last good objects")
