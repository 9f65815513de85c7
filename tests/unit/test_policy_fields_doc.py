"""The README's policy field reference has a row for every field of the model, and no other."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from tests.unit.test_policy_crd import model_paths

DOC = Path(__file__).parents[2] / "README.md"
_ROW = re.compile(r"^\| `(spec[^`]*)` \|", re.MULTILINE)
_CHOICE = re.compile(r"\{([^}]*)\}")


def expand(path: str) -> list[str]:
    """`a.{b,c}.d` stands for a.b.d and a.c.d."""
    parts = _CHOICE.split(path)  # literal, choices, literal, choices, ...
    options = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(chosen) for chosen in itertools.product(*options)]


def documented() -> list[str]:
    return [path for row in _ROW.findall(DOC.read_text()) for path in expand(row)]


def test_every_field_has_a_row() -> None:
    assert sorted(set(model_paths()) - set(documented())) == []


def test_every_row_is_a_field() -> None:
    assert sorted(set(documented()) - set(model_paths())) == []


def test_no_field_has_two_rows() -> None:
    rows = documented()
    assert sorted({p for p in rows if rows.count(p) > 1}) == []
