"""One YAML file, read with bounded cost and loaded into objects; what FileSource keeps of
each file between reads.

A file is read only if its content (or, trusting stat, its stat) changed; a file that cannot
be read or parsed keeps its last good objects, with the problem said.
"""

from __future__ import annotations

import hashlib
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from xdscp.model.base import KubeObject
from xdscp.model.load import Document, load
from xdscp.model.problems import Problem
from xdscp.model.resources import ObjectKey

MAX_FILE_BYTES = 16 * 1024 * 1024
# A file's device, inode, size, mtime and ctime (ns) as one number: kept per file, the five
# as a tuple of large ints were ~240 bytes a file.
Signature = int


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML, with numbers as kubectl reads them (YAML 1.2): `3e0` is the number 3, not
    the string YAML 1.1 makes of it, so a manifest means the same in both modes."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


@dataclass(slots=True)
class LoadedFile:
    # What the content was, not the content: holding every file's bytes (7 MB at 10,000
    # files) also kept the heap around them from being returned (~39 MB of RSS).
    digest: bytes = b""
    objects: dict[ObjectKey, KubeObject] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    signature: Signature | None = None  # the file's stat when it was read


def read(path: Path, previous: LoadedFile, trust_stat: bool = False) -> LoadedFile:
    """The file's objects; `previous` as is if its content (or, trusting stat, its stat)
    did not change."""
    signature = signature_of(path)  # before reading: a write during the read shows next time

    def keeping(message: str, digest: bytes = previous.digest) -> LoadedFile:
        message = f"{message}; keeping its last good objects"
        return LoadedFile(digest, previous.objects, (file_problem(path, message),), signature)

    if trust_stat and signature is not None and signature == previous.signature:
        return previous

    try:
        content = _read_bounded(path)
    except _Refused as err:
        return keeping(str(err), b"")
    except OSError as err:  # removed or unreadable between listing and reading
        return keeping(err.strerror or str(err))
    digest = hashlib.blake2b(content, digest_size=16).digest()
    if digest == previous.digest:
        previous.signature = signature
        return previous
    try:
        bodies = list(yaml.load_all(content, Loader=_Loader))
    except yaml.YAMLError as err:
        return keeping(f"invalid YAML ({_where(err)})", digest)
    loaded = load((Document(str(path), body) for body in bodies), previous.objects)
    return LoadedFile(digest, loaded.objects, tuple(loaded.problems), signature)


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


def signature_of(path: Path) -> Signature | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return hash((info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))


def file_problem(path: Path, message: str) -> Problem:
    return Problem(str(path), "", "", "", "", message)


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
