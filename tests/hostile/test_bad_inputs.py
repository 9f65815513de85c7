"""A corpus of hostile inputs: each gets a clear error naming the object and field, nothing
escapes as an exception, and a live Envoy keeps the last good configuration throughout.

Each file in inputs/ starts with `# expect: TEXT`, the text the report must contain.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ROOT, Stack
from xdscp import app
from xdscp.demo.processes import wait_for
from xdscp.translate import Options

pytestmark = [pytest.mark.envoy, pytest.mark.process]

INPUTS = sorted((Path(__file__).parent / "inputs").glob("*.yaml"))
GUIDE_PROBES = 3


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough() -> None:
    assert len(INPUTS) >= 50


@pytest.mark.parametrize("path", INPUTS, ids=[p.stem for p in INPUTS])
def test_reported_with_object_and_field_and_the_rest_still_translates(
    path: Path, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    shutil.copy(path, tmp_path / "policies" / path.name)
    report = app.render_files((tmp_path / "policies",), "yaml", True, Options())
    lines = [line for line in report.splitlines() if expectation(path) in line]
    assert lines, f"{path.name}: nothing says {expectation(path)!r}:\n{report}"
    problems = app.validate((tmp_path / "policies",))
    if problems:  # a problem names the file it is in
        assert any(path.name in p for p in problems), problems
    assert f"keepalive_probes: {GUIDE_PROBES}" in report  # the guide's policy still applies


@pytest.fixture
def live(policies: tuple[Path, int], tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(*policies[:1], tmp_path, policies[1], delta=False)
    try:
        stack.start_xdscp()
        stack.start_envoy()
        yield stack
    finally:
        stack.stop()


def test_live_envoy_keeps_the_last_good_cluster_through_every_bad_input(live: Stack) -> None:
    server = live.xdscp
    assert server is not None

    def keepalive_probes() -> int | None:
        cluster = live.cluster() or {}
        tcp = cluster.get("upstream_connection_options", {}).get("tcp_keepalive", {})
        probes: int | None = tcp.get("keepalive_probes")
        return probes

    wait_for(lambda: keepalive_probes() == GUIDE_PROBES, 20, "the guide's cluster")
    for path in INPUTS:
        target = live.policies / path.name
        shutil.copy(path, target)

        def reported(path: Path = path) -> bool:
            assert server is not None
            return expectation(path) in str(server.get_json("/policies"))

        wait_for(reported, 20, f"xdscp to report {path.name}")
        assert server.alive(), server.log_tail()
        assert keepalive_probes() == GUIDE_PROBES, path.name
        target.unlink()
        wait_for(lambda: not server.get_json("/policies")["problems"], 20, "a clean report")
    assert live.wait_ok() == 200
