"""Objects from a directory (or files) of multi-document YAML, reloaded on every change.

A file that fails to parse keeps its last good objects; an object that fails validation keeps
its last good version. Either way the problem is reported and nothing already served is lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
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


class FileSource:
    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = tuple(paths)
        self._files: dict[Path, _File] = {}

    def load(self, changed: Iterable[Path] | None = None) -> Update:
        """One consistent view of every file. With the paths the watcher named, only those are
        read again, unless a link or directory changed; unchanged content is never re-parsed."""
        changed = None if changed is None else set(changed)
        if changed is None or not self._only_files_changed(changed):
            files = sorted(self._discover())
            self._files = {p: self._read(p, self._files.get(p, _File())) for p in files}
        else:
            for path in filter(self._watched_file, changed):  # editors' temporary files aside
                if path.is_file():
                    self._files[path] = self._read(path, self._files.get(path, _File()))
                else:
                    self._files.pop(path, None)
            self._files = dict(sorted(self._files.items()))
        objects: dict[ObjectKey, KubeObject] = {}
        origin: dict[ObjectKey, Path] = {}
        problems: list[Problem] = []
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
                objects[key], origin[key] = obj, path
        origins = {key: str(path) for key, path in origin.items()}
        return Update(Resources.of(objects.values(), origins), tuple(problems))

    async def updates(self, debounce_ms: int = 20) -> AsyncIterator[Update]:
        """The current view, then a new one after every change on disk."""
        yield self.load()
        watched = [p for p in self.paths if p.exists()]
        async for changes in awatch(*watched, debounce=debounce_ms, step=5, recursive=True):
            yield self.load(Path(path) for _, path in changes)

    def _only_files_changed(self, changed: set[Path]) -> bool:
        """Whether re-reading just these paths gives the whole truth. Not when a link or a
        directory changed: a ConfigMap volume swaps its `..data` link, and every file seen
        through it changes without an event of its own."""
        return not any(
            p.is_symlink() or p.is_dir() or any(part.startswith("..") for part in p.parts)
            for p in changed
        )

    def _watched_file(self, path: Path) -> bool:
        return any(
            root.is_dir() and path.is_relative_to(root) and _visible(path, root)
            for root in self.paths
        )

    def _discover(self) -> Iterable[Path]:
        for path in self.paths:
            if path.is_dir():
                yield from (p for p in path.rglob("*") if _visible(p, path) and p.is_file())
            elif path.exists():
                yield path

    def _read(self, path: Path, previous: _File) -> _File:
        try:
            content = path.read_bytes()
        except OSError as err:  # removed or unreadable between listing and reading
            return _File(previous.content, previous.objects, [_file_problem(path, str(err))])
        if content == previous.content:
            return previous
        if len(content) > MAX_FILE_BYTES:
            message = f"file is larger than {MAX_FILE_BYTES} bytes; keeping its last good objects"
            return _File(content, previous.objects, [_file_problem(path, message)])
        try:
            bodies = list(yaml.load_all(content, Loader=_Loader))
        except yaml.YAMLError as err:
            message = f"invalid YAML ({_where(err)}); keeping its last good objects"
            return _File(content, previous.objects, [_file_problem(path, message)])
        loaded = load((Document(str(path), body) for body in bodies), previous.objects)
        return _File(content, loaded.objects, loaded.problems)


def _visible(path: Path, root: Path) -> bool:
    """YAML files not hidden: editors' temporary files and a ConfigMap volume's `..data`
    and `..<timestamp>` directories (its top-level links point into them) are left out."""
    relative = path.relative_to(root)
    return path.suffix in SUFFIXES and not any(p.startswith(".") for p in relative.parts)


def _file_problem(path: Path, message: str) -> Problem:
    return Problem(str(path), "", "", "", "", message)


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
