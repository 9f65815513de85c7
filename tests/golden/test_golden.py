"""Golden cases: tests/golden/<kind>/<feature>.in.yaml renders to the .out.yaml beside it.

A case is a file pair, found by glob. `pytest tests/golden --update-golden` (`make golden`)
rewrites the outputs from the translator; read the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdscp.app import render_files
from xdscp.translate import Options

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CASES = sorted(HERE.glob("*/*.in.yaml"))


def expected_path(case: Path) -> Path:
    return case.with_name(case.name.removesuffix(".in.yaml") + ".out.yaml")


def render(case: Path) -> str:
    """What `xdscp render <case> --explain` prints from the repository root."""
    return render_files((case.relative_to(ROOT),), "yaml", True, Options())


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(HERE)) for c in CASES])
def test_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # problems name the input by its path from the root
    actual = render(case)
    expected = expected_path(case)
    if update_golden:
        expected.write_text(actual)
    assert expected.exists(), f"no {expected.name}: run `make golden` and read it"
    assert actual == expected.read_text()


def test_every_output_has_its_input() -> None:
    inputs = {expected_path(c) for c in CASES}
    assert sorted(set(HERE.glob("*/*.out.yaml")) - inputs) == []
