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
import re
import stat
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from watchfiles import awatch

from xdscp.model.base import KubeObject
from xdscp.model.load import Document, ObjectKey, load
from xdscp.model.problems import Problem
from xdscp.model.resources import Resources
from xdscp.sources import Update

log = logging.getLogger("xdscp.sources.files")
SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 16 * 1024 * 1024
# How long an object may be missing from its files before it is removed while serving: longer
# than a save (`kubectl get -o yaml > file` leaves the file empty for a request's length).
REMOVAL_GRACE_SECONDS = 3.0
# How often the roots are checked for being replaced, and held removals for being due.
TICK_MS = 500

Identity = tuple[str, int, int] | None  # what a root resolves to: real path, device, inode
Signature = tuple[int, int, int, int, int]  # device, inode, size, mtime, ctime (ns)
# How often the whole tree is looked at anyway, by stat: a change no event reported (a bind
# mount that delivers none, a dropped event) is served within this many seconds.
RESCAN_SECONDS = 10.0


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML, with numbers as kubectl reads them (YAML 1.2): `3e0` is the number 3, not
    the string YAML 1.1 makes of it, so a manifest means the same in both modes."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


@dataclass
class _File:
    content: bytes = b""
    objects: dict[ObjectKey, KubeObject] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    signature: Signature | None = None  # the file's stat when it was read


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
        self._files: dict[Path, _File] = {}
        self._served: dict[ObjectKey, KubeObject] = {}
        self._origins: dict[ObjectKey, str] = {}
        self._last: Update | None = None
        self._held: dict[ObjectKey, _Held] = {}

    def rescan(self) -> Update | None:
        """Every file looked at again, read only if its stat changed: a new view if anything
        did (None if nothing), whatever the watcher reported."""
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
        if changed is not None and (quick := self._in_place(changed)) is not None:
            return quick
        problems: list[Problem] = []
        if changed is None or not self._only_files_changed(changed):
            self._files = self._read_all(problems, trust_stat)
        else:
            added = False
            for path in filter(self._watched_file, changed):  # editors' temporary files aside
                if path.is_file():
                    added = added or path not in self._files
                    self._files[path] = self._read(path, self._files.get(path, _File()))
                else:
                    self._files.pop(path, None)
            if added:  # a file changed in place keeps its place
                self._files = dict(sorted(self._files.items()))
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
        problems.extend(self._hold_removed(objects, origin))
        self._last = Update(Resources.of(objects.values(), origin), tuple(problems))
        return self._last

    def _in_place(self, changed: set[Path]) -> Update | None:
        """The common edit, in O(what changed): files already known, each read to the same
        objects (by kind and key) it held, all of them valid, nothing held back. Anything else
        (None) takes the full path, which re-merges every file."""
        last = self._last
        if last is None or last.problems or self._held or not self._only_files_changed(changed):
            return None
        paths = [p for p in changed if self._watched_file(p)]
        if not all(p in self._files and p.is_file() for p in paths):
            return None
        replaced: dict[Path, _File] = {}
        for path in paths:
            before = self._files[path]
            after = self._read(path, before)
            if after.problems or after.objects.keys() != before.objects.keys():
                return None
            replaced[path] = after
        objects = [o for f in replaced.values() for o in f.objects.values()]
        resources = last.resources.replacing(objects)
        if resources is None:
            return None
        self._files.update(replaced)
        for loaded in replaced.values():
            self._served.update(loaded.objects)
        self._last = Update(resources, ())
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
        next_rescan = time.monotonic() + RESCAN_SECONDS
        while True:
            identities = self._identities()
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
                            if (found := self.rescan()) is not None:
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
        async for batch in awatch(
            *sorted(set(targets.values())),
            debounce=debounce_ms,
            step=5,
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
            problems.append(
                Problem(
                    held.origin,
                    *key,
                    "",
                    f"gone from its file; still served for {self.grace:g} s in case a save is "
                    "in progress",
                )
            )
        self._served, self._origins = objects, origin  # the caller's own: no copy per change
        return problems

    def _only_files_changed(self, changed: set[Path]) -> bool:
        """Whether re-reading just these paths gives the whole truth. Not when a link or a
        directory changed (a ConfigMap volume swaps its `..data` link, and every file seen
        through it changes without an event of its own), nor for a path the watcher names
        that is not a file we know or could know."""
        known = self._files.keys()
        if not all(root.exists() for root in self.paths):
            return False  # a missing root keeps its objects, which only a full read knows
        return all(
            not (p.is_symlink() or p.is_dir() or any(part.startswith("..") for part in p.parts))
            and (p.exists() or p in known or not any(k.is_relative_to(p) for k in known))
            and any(p == root or p.is_relative_to(root) for root in self.paths)
            for p in changed
        )

    def _watched_file(self, path: Path) -> bool:
        return any(
            path == root or (root.is_dir() and path.is_relative_to(root) and _visible(path, root))
            for root in self.paths
        )

    def _read_all(self, problems: list[Problem], trust_stat: bool = False) -> dict[Path, _File]:
        """Every file under every root. A root that is missing keeps its files' last good
        objects (reported): a directory being replaced is no removal."""
        files: dict[Path, _File] = {}
        for root in self.paths:
            if root.is_dir():
                found = sorted(p for p in root.rglob("*") if _visible(p, root) and p.is_file())
            elif root.exists():
                found = [root]
            else:
                problems.append(_missing(root))
                found = [p for p in self._files if p == root or p.is_relative_to(root)]
                files.update((p, self._files[p]) for p in found)
                continue
            files.update((p, self._read(p, self._files.get(p, _File()), trust_stat)) for p in found)
        return dict(sorted(files.items()))

    def _read(self, path: Path, previous: _File, trust_stat: bool = False) -> _File:
        """The file's objects; `previous` as is if its content (or, trusting stat, its stat)
        did not change."""
        signature = _signature(path)  # before reading: a write during the read shows next time

        def keeping(message: str, content: bytes = previous.content) -> _File:
            message = f"{message}; keeping its last good objects"
            return _File(content, previous.objects, [_file_problem(path, message)], signature)

        if trust_stat and signature is not None and signature == previous.signature:
            return previous

        try:
            content = _read_bounded(path)
        except _Refused as err:
            return keeping(str(err), b"")
        except OSError as err:  # removed or unreadable between listing and reading
            return keeping(err.strerror or str(err))
        if content == previous.content:
            previous.signature = signature
            return previous
        try:
            bodies = list(yaml.load_all(content, Loader=_Loader))
        except yaml.YAMLError as err:
            return keeping(f"invalid YAML ({_where(err)})", content)
        loaded = load((Document(str(path), body) for body in bodies), previous.objects)
        return _File(content, loaded.objects, loaded.problems, signature)


class _Refused(Exception):
    """A file not read at all: its objects stay as they were."""


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, checked by its size before any is read, and never more than the
    limit: a huge file costs a stat, not memory and seconds of a blocked event loop (and a
    FIFO is never opened, which would block)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise _Refused("not a regular file")
    too_large = _Refused(f"file is larger than {MAX_FILE_BYTES} bytes")
    if info.st_size > MAX_FILE_BYTES:
        raise too_large
    with path.open("rb") as file:
        content = file.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:  # it grew between the stat and the read
        raise too_large
    return content


def _signature(path: Path) -> Signature | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


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


def _missing(root: Path) -> Problem:
    return _file_problem(root, "no such file or directory; keeping its last good objects")


def _file_problem(path: Path, message: str) -> Problem:
    return Problem(str(path), "", "", "", "", message)


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
