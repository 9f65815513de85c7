"""The file source read incrementally (the paths the watcher names) agrees with a full read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT
from xdscp import render
from xdscp.sources import yamlfile
from xdscp.sources.files import FileSource
from xdscp.translate import Memo, translate

POLICY = "httpbin-keepalive.yaml"


def view(source: FileSource, changed: list[Path] | None = None) -> dict[str, Any]:
    update = source.load(changed)
    return render.document(translate(update.resources), update.problems, explain=True)


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


def test_every_edit_read_in_place_gives_what_a_full_read_gives(tmp_path: Path) -> None:
    """Edits that keep a file's objects take the in-place path (one file read, no merge of the
    others); any other edit takes the full one. Either way: what a full read gives, in the
    same order."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    policy = policies / POLICY
    original = policy.read_text()
    other = policies / "other.yaml"
    endpoints = policies / "httpbin-endpoints.yaml"
    slice_text = endpoints.read_text()
    edits = [
        (endpoints, slice_text.replace('["127.0.0.1"]', '["127.0.0.2"]')),  # in place
        (policy, original.replace("keepAliveProbes: 3", "keepAliveProbes: 4")),  # in place
        (policy, original.replace("keepAliveProbes: 3", "keepAliveProbes: 0x")),  # invalid
        (policy, original.replace("keepAliveProbes: 3", "keepAliveProbes: 5")),  # fixed
        (other, original.replace("httpbin-keepalive", "second")),  # a new file
        (other, original.replace("httpbin-keepalive", "second").replace(": 3", ": 6")),
        (other, original),  # a duplicate of the first file's policy
        (other, original.replace("httpbin-keepalive", "third")),  # renamed: new key
        (policy, original.replace("keepAliveProbes: 3", "keepAliveProbes: 7")),
        (other, "{not yaml"),
        (policy, original),
        (endpoints, slice_text),
    ]
    memo = Memo()  # kept across edits, as the pipeline keeps one: never stale
    source, everything = FileSource([policies]), FileSource([policies])
    view(source)
    everything.load()
    for path, text in edits:
        path.write_text(text)
        update = source.load([path])
        fresh = everything.load()  # every file read again (last good versions kept alike)
        translated = translate(update.resources, memo=memo)
        assert render.document(translated, update.problems, explain=True) == (
            render.document(translate(fresh.resources), fresh.problems, explain=True)
        ), text
        assert list(update.resources.policies) == list(fresh.resources.policies)
        assert update.resources.policies == fresh.resources.policies


def test_a_rescan_finds_what_no_event_reported_and_reads_only_changed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind mount that delivers no events, or an event dropped: the periodic rescan serves
    the change, reading only files whose stat changed."""
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
