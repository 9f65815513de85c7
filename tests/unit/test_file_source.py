"""The file source read incrementally (the paths the watcher names) agrees with a full read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.live import ROOT
from xdscp import render
from xdscp.sources.files import FileSource
from xdscp.translate import translate

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
