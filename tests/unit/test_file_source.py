"""The file source read incrementally (the paths the watcher names) agrees with a full read."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT
from xdscp import render
from xdscp.model.resources import Resources
from xdscp.sources import Update, yamlfile
from xdscp.sources.files import FileSource
from xdscp.translate import Translation, Translator, translate

POLICY = "httpbin-keepalive.yaml"
GRACE = 3.0


def view(source: FileSource, changed: list[Path] | None = None) -> dict[str, Any]:
    update = source.load(changed)
    return render.document(translate(update.resources), update.problems, explain=True)


def rendered(translation: Translation, update: Update) -> dict[str, Any]:
    """As `xdscp translate` shows it, the policies' statuses in name order (they come in the
    order of the policies' table, where a policy added goes last)."""
    out = render.document(translation, update.problems, explain=True)
    out["policies"].sort(key=lambda status: status["policy"])
    return out


def test_named_changes_give_what_a_full_read_gives(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    source = FileSource([policies])
    view(source)
    edited = policies / POLICY
    edited.write_text(edited.read_text().replace("keepAliveProbes: 3", "keepAliveProbes: 8"))
    added = policies / "extra.yaml"
    added.write_text((ROOT / "policies" / POLICY).read_text().replace("httpbin-keepalive", "x"))
    removed = policies / "gateway.yaml"
    removed.unlink()
    temporary = policies / ".extra.yaml.swp"  # an editor's, reported and ignored
    incremental = view(source, [edited, added, removed, temporary])
    assert incremental == view(FileSource([policies]))
    (cluster,) = incremental["clusters"]
    assert cluster["upstream_connection_options"]["tcp_keepalive"]["keepalive_probes"] == 8
    assert incremental["listeners"] == []  # the Gateway's file is gone


def test_a_missing_path_is_a_problem_named_by_validate(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    (problem,) = FileSource([missing]).load().problems
    assert (problem.source, problem.message) == (
        str(missing),
        "no such file or directory; keeping its last good objects",
    )


def test_an_object_gone_from_its_file_is_held_for_the_grace_period(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    now = [0.0]
    source = FileSource([policies], grace=3, clock=lambda: now[0])
    full = view(source)
    (policies / "gateway.yaml").write_text("")  # truncated by `>`, not yet written
    held = source.load([policies / "gateway.yaml"])
    assert {p.kind for p in held.problems} == {"Gateway", "HTTPRoute"}
    assert all("a save is in progress" in p.message for p in held.problems)
    now[0] = 2.9
    assert view(source, [])["listeners"] == full["listeners"]
    assert not source.due()
    now[0] = 3.0
    assert source.due()
    assert view(source, [])["listeners"] == []  # stable for the grace period: removed


def test_every_edit_read_by_itself_gives_what_a_full_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files saved, added and deleted, objects added to and removed from a file, removals held
    and then due take the quick path (the files named read, the last view changed by what they
    changed: no merge of the others); an edit after which some file or object has a problem,
    or that makes a duplicate, takes the full one. Either way: what a full read gives (objects
    new to a table go last in it, so tables are compared as mappings)."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    policy = policies / POLICY
    original = policy.read_text()
    other = policies / "other.yaml"
    first = policies / "a-first.yaml"  # its objects' names sort before the others'
    endpoints = policies / "httpbin-endpoints.yaml"
    slice_text = endpoints.read_text()

    def named(name: str, probes: int = 3) -> str:
        text = original.replace("httpbin-keepalive", name)
        return text.replace("keepAliveProbes: 3", f"keepAliveProbes: {probes}")

    quick, full = True, False
    # (file, its new text (None: deleted), seconds passed before, the path expected)
    edits: list[tuple[Path | None, str | None, float, bool]] = [
        (endpoints, slice_text.replace('["127.0.0.1"]', '["127.0.0.2"]'), 0, quick),
        (policy, named("httpbin-keepalive", 4), 0, quick),
        (policy, original.replace("keepAliveProbes: 3", "keepAliveProbes: 0x"), 0, full),
        (policy, named("httpbin-keepalive", 5), 0, full),  # fixed (after a problem)
        (other, named("second"), 0, quick),  # a new file
        (other, named("second", 6), 0, quick),
        (other, original, 0, full),  # a duplicate of the first file's policy
        (other, named("third"), 0, full),  # renamed: new key (after a duplicate)
        (policy, named("httpbin-keepalive", 7), 0, quick),
        (other, "{not yaml", 0, full),
        (policy, original, 0, full),
        (endpoints, slice_text, 0, full),
        (other, None, 0, full),  # deleted: `third` held (after a problem)
        (None, None, GRACE, quick),  # the hold due: `third` removed
        (first, named("a-first"), 0, quick),  # a new file, its object first in name order
        (first, named("a-first") + "---\n" + named("a-second"), 0, quick),  # one added
        (first, named("a-second"), 0, quick),  # one removed: held
        (policy, named("httpbin-keepalive", 8), 1, quick),  # while one is held
        (first, named("a-first") + "---\n" + named("a-second"), 0, quick),  # back in time
        (first, None, 0, quick),  # deleted: both held
        (other, named("fourth"), 1, quick),
        (None, None, GRACE, quick),  # due: both removed
    ]
    now = [0.0]
    translator = Translator()  # kept across edits, as the pipeline keeps one: never stale
    source = FileSource([policies], grace=GRACE, clock=lambda: now[0])
    everything = FileSource([policies], grace=GRACE, clock=lambda: now[0])
    view(source)
    everything.load()
    full_reads = [0]
    real_of = Resources.of

    def counted(*args: Any) -> Resources:
        full_reads[0] += 1
        return real_of(*args)

    monkeypatch.setattr(Resources, "of", counted)
    for path, text, passed, expected in edits:
        now[0] += passed
        if path is not None and text is None:
            path.unlink()
        elif path is not None:
            path.write_text(text or "")
        reads = full_reads[0]
        update = source.load([] if path is None else [path])
        assert (full_reads[0] == reads) is expected, (path, text)
        fresh = everything.load()  # every file read again (last good versions kept alike)
        assert rendered(translator.translate(update.resources), update) == (
            rendered(translate(fresh.resources), fresh)
        ), (path, text)
        assert update == fresh
    assert [key for _, key in update.resources.policies] == ["httpbin-keepalive", "fourth"]


def test_a_rescan_finds_what_no_event_reported_and_reads_only_changed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind mount that delivers no events, or an event dropped: the periodic rescan serves
    the change, reading only files whose stat changed, and changing only their objects."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    source = FileSource([policies])
    view(source)
    assert source.rescan() is None  # nothing changed: nothing new to serve
    reads: list[Path] = []
    real = yamlfile._read_bounded

    def counted(path: Path) -> bytes:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(yamlfile, "_read_bounded", counted)
    edited = policies / POLICY
    edited.write_text(edited.read_text().replace("keepAliveProbes: 3", "keepAliveProbes: 8"))
    update = source.rescan()
    assert update is not None and reads == [edited]
    (cluster,) = render.document(translate(update.resources))["clusters"]
    assert cluster["upstream_connection_options"]["tcp_keepalive"]["keepalive_probes"] == 8
    assert source.rescan() is None

    def merged(*args: Any) -> Resources:
        raise AssertionError("every file merged again")

    monkeypatch.setattr(Resources, "of", merged)  # what follows costs the files it names
    # Touched, the same bytes: read, and nothing new to serve.
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert source.rescan() is None and reads == [edited, edited]
    # A new file and one gone: only they are read, and only their objects change.
    added = policies / "extra.yaml"
    added.write_text(edited.read_text().replace("httpbin-keepalive", "extra"))
    (policies / "gateway.yaml").unlink()
    found = source.rescan()
    assert found is not None and reads == [edited, edited, added]
    assert found.resources.changes_since(update.resources) == {
        ("BackendConfigPolicy", "httpbin", "extra"),
        ("Gateway", "kgateway-system", "http"),
        ("HTTPRoute", "httpbin", "httpbin"),
    }


def test_an_edit_made_while_the_first_view_is_served_is_not_missed(tmp_path: Path) -> None:
    """The first view is served (at 10,000 Services that takes seconds) before the watch
    begins: a save made meanwhile has no event, and is found by looking at the files as soon
    as the watch begins, not at the next periodic rescan."""
    policy = tmp_path / "keepalive.yaml"
    policy.write_text((ROOT / "policies" / "httpbin-keepalive.yaml").read_text())

    async def scenario() -> Update:
        updates = FileSource([policy]).updates()
        await anext(updates)
        policy.write_text(policy.read_text().replace("keepAliveProbes: 3", "keepAliveProbes: 7"))
        async with asyncio.timeout(3):  # well within the 10 s rescan
            return await anext(updates)

    (policy_object,) = asyncio.run(scenario()).resources.policies.values()
    keepalive = policy_object.spec.tcp_keepalive
    assert keepalive is not None and keepalive.keep_alive_probes == 7
