"""README's command table and `xdscp --help` agree: every command, every flag, every default."""

from __future__ import annotations

import argparse
import re

import pytest

from tests.cli.run import xdscp
from tests.live import ROOT
from xdscp.cli import VERBS, parser

pytestmark = pytest.mark.process

FLAG = re.compile(r"`(--?[a-z][\w-]*)`")
DEFAULT = re.compile(r"`(--?[a-z][\w-]*)` \(default `([^`]*)`")


def readme_rows() -> dict[str, str]:
    """The Commands table's rows: first word after `xdscp` (or "" for xdscp itself) -> flags."""
    section = ROOT.joinpath("README.md").read_text().split("## Commands\n", 1)[1]
    rows = {}
    for line in section.split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`xdscp"):
            words = cells[0].strip("`").split()
            rows[words[1] if len(words) > 1 else ""] = cells[1]
    return rows


def subparsers() -> dict[str, argparse.ArgumentParser]:
    top = parser()
    verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"": top, **verbs.choices}


def options(cli: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        flag: action
        for action in cli._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        for flag in action.option_strings
    }


def test_every_command_has_a_row() -> None:
    assert set(readme_rows()) == {"", *(name for name, *_ in VERBS)}


@pytest.mark.parametrize("verb", ["", *(name for name, *_ in VERBS)])
def test_flags_and_defaults_agree(verb: str) -> None:
    row, cli = readme_rows()[verb], options(subparsers()[verb])
    assert set(FLAG.findall(row)) == set(cli), f"README row for {verb or 'xdscp'}"
    for flag, shown in DEFAULT.findall(row):
        assert shown == str(cli[flag].default), flag
    help_text = xdscp(*filter(None, [verb]), "--help").stdout
    for flag in cli:
        assert flag in help_text
