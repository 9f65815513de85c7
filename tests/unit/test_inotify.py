"""The inotify watcher: every path that changes under a tree, a directory made later included,
as soon as the kernel reports it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import pytest

from xdscp.sources import inotify

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux's")
TICK, SETTLE, LONGEST = 0.2, 0.001, 0.02


async def seen(batches: AsyncGenerator[set[Path], None], wanted: set[Path]) -> set[Path]:
    """Every path the batches report until `wanted` were all among them (5 s at most)."""
    found: set[Path] = set()
    async with asyncio.timeout(5):
        while not wanted <= found:
            found |= await anext(batches)
    return found


def watching(tmp_path: Path, act: Callable[[], object], wanted: set[Path]) -> set[Path]:
    async def scenario() -> set[Path]:
        watcher = inotify.Watcher([tmp_path])
        try:
            batches = watcher.batches(TICK, SETTLE, LONGEST)
            assert await anext(batches) == set()  # a tick: nothing happened
            act()
            return await seen(batches, wanted)
        finally:
            watcher.close()

    return asyncio.run(scenario())


def test_a_file_saved_by_rename_is_reported_with_its_temporary_file(tmp_path: Path) -> None:
    def save() -> None:
        (tmp_path / ".p.yaml.tmp").write_text("a: 1\n")
        os.rename(tmp_path / ".p.yaml.tmp", tmp_path / "p.yaml")

    found = watching(tmp_path, save, {tmp_path / "p.yaml"})
    assert found == {tmp_path / ".p.yaml.tmp", tmp_path / "p.yaml"}


def test_files_in_a_directory_made_later_are_reported(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    made = tmp_path / "new" / "deeper"

    def write() -> None:
        made.mkdir(parents=True)
        (made / "p.yaml").write_text("a: 1\n")
        (tmp_path / "old" / "q.yaml").write_text("b: 2\n")

    async def then_more() -> None:
        watcher = inotify.Watcher([tmp_path])
        try:
            batches = watcher.batches(TICK, SETTLE, LONGEST)
            write()
            await seen(batches, {tmp_path / "new", tmp_path / "old" / "q.yaml"})
            # Written after the directory was seen: reported by its own watch.
            (made / "p.yaml").write_text("a: 2\n")
            await seen(batches, {made / "p.yaml"})
        finally:
            watcher.close()

    asyncio.run(then_more())


def test_a_removed_directory_is_reported(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "p.yaml").write_text("a: 1\n")

    def remove() -> None:
        (gone / "p.yaml").unlink()
        gone.rmdir()

    assert gone in watching(tmp_path, remove, {gone, gone / "p.yaml"})


def test_a_directory_moved_out_is_no_longer_reported(tmp_path: Path) -> None:
    watched, outside = tmp_path / "watched", tmp_path / "outside"
    (watched / "moving").mkdir(parents=True)
    outside.mkdir()

    async def scenario() -> None:
        watcher = inotify.Watcher([watched])
        try:
            batches = watcher.batches(TICK, SETTLE, LONGEST)
            os.rename(watched / "moving", outside / "moved")
            await seen(batches, {watched / "moving"})
            (outside / "moved" / "p.yaml").write_text("a: 1\n")
            (watched / "q.yaml").write_text("b: 2\n")
            # Only the file still in the tree; nothing under the path the directory left.
            assert await seen(batches, {watched / "q.yaml"}) == {watched / "q.yaml"}
        finally:
            watcher.close()

    asyncio.run(scenario())
