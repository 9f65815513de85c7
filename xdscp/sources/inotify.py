"""Linux inotify read on the event loop: the paths that changed under some directories (or
files), as soon as the kernel says so.

A saved policy is served a few milliseconds sooner than through a watcher thread that polls
(watchfiles wakes every few ms to look, and takes the GIL each time, even when nothing
changed). Directories are watched recursively, following links as the tree resolves them; a
directory made later is watched as soon as it is seen, and reported, so the reader looks
into it. When the kernel's queue overflowed, what changed is not known: every root is
reported, which makes the reader read everything again.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import struct
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path

_CLOEXEC, _NONBLOCK = 0o2000000, 0o4000  # IN_CLOEXEC, IN_NONBLOCK
# IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE,
# IN_DELETE_SELF, IN_MOVE_SELF
_MASK = 0x002 | 0x004 | 0x008 | 0x040 | 0x080 | 0x100 | 0x200 | 0x400 | 0x800
_IGNORED, _OVERFLOW, _IS_DIR = 0x8000, 0x4000, 0x40000000
_MADE = 0x100 | 0x080  # IN_CREATE, IN_MOVED_TO: a directory made here is watched too
_MOVED_AWAY = 0x040  # IN_MOVED_FROM: a directory moved out is no longer watched
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len; then the name, NUL-padded to len
# A path gone (or made unreadable) before it was watched: its parent's events say so.
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.EACCES}
log = logging.getLogger("xdscp.sources.files")


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this process runs on
        self.init1 = libc.inotify_init1
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = (ctypes.c_int, ctypes.c_int)


_libc: _Libc | None = None


def available() -> bool:
    """Whether this system has inotify (Linux)."""
    return _load()


def _load() -> bool:
    global _libc
    if _libc is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError):  # no such library, or no inotify in it
            return False
    return True


class Watcher:
    """One inotify instance over `targets` (directories watched with all below them, or files);
    close it when done."""

    def __init__(self, targets: Iterable[Path]) -> None:
        if not _load():
            raise OSError(errno.ENOSYS, "inotify is not available here")
        assert _libc is not None
        self._libc = _libc
        fd = self._libc.init1(_CLOEXEC | _NONBLOCK)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd = fd
        self._paths: dict[int, Path] = {}  # watch descriptor -> the path it watches
        self.targets = tuple(targets)
        for target in self.targets:
            self._watch_tree(target)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def batches(
        self, tick: float, settle: float, longest: float
    ) -> AsyncGenerator[set[Path], None]:
        """Each burst of changes as one set of paths, once `settle` seconds pass without more
        (or `longest` after its first); an empty set every `tick` seconds without any."""
        loop, fd = asyncio.get_running_loop(), self._fd
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                try:
                    await asyncio.wait_for(readable.wait(), tick)
                except TimeoutError:
                    yield set()
                    continue
                changed: set[Path] = set()
                deadline = loop.time() + longest
                while True:
                    readable.clear()
                    changed |= self._read()
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        await asyncio.wait_for(readable.wait(), min(settle, remaining))
                    except TimeoutError:
                        break
                if changed:
                    yield changed
        finally:
            loop.remove_reader(fd)

    def _read(self) -> set[Path]:
        changed: set[Path] = set()
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return changed
            offset = 0
            while offset < len(data):
                wd, mask, _, size = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + size].rstrip(b"\0")
                offset += size
                if mask & _OVERFLOW:
                    changed.update(self.targets)  # what changed is not known: everything
                    continue
                base = self._paths.get(wd)
                if base is None:
                    continue
                if mask & _IGNORED:  # its directory or file is gone
                    del self._paths[wd]
                    changed.add(base)
                    continue
                path = base / os.fsdecode(name) if name else base
                changed.add(path)
                if mask & _IS_DIR and mask & _MADE:
                    self._watch_tree(path)
                elif mask & _IS_DIR and mask & _MOVED_AWAY:
                    self._forget_tree(path)

    def _watch_tree(self, top: Path) -> None:
        """`top` and, if a directory, every directory below it (links followed: a ConfigMap
        volume's files are links into a directory that a link names)."""
        self._watch(top)
        for directory, subdirectories, _ in os.walk(top, followlinks=True):
            for name in subdirectories:
                self._watch(Path(directory) / name)

    def _forget_tree(self, top: Path) -> None:
        """Stop watching `top` and all below it: a watch follows its directory wherever it is
        moved, and would report its changes under a path that is no longer there."""
        for wd, path in list(self._paths.items()):
            if path == top or path.is_relative_to(top):
                self._libc.rm_watch(self._fd, wd)
                del self._paths[wd]

    def _watch(self, path: Path) -> None:
        wd = self._libc.add_watch(self._fd, os.fsencode(path), _MASK)
        if wd >= 0:
            self._paths[wd] = path
        elif (error := ctypes.get_errno()) not in _GONE:
            # Most likely the limit of watches (fs.inotify.max_user_watches).
            log.warning(
                "cannot watch %s (%s); changes to it are found by the periodic rescan",
                path,
                os.strerror(error),
            )
