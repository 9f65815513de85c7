"""Writing the files xdscp serves as editors and kubectl-style tools do: beside, then renamed
over, so xdscp never reads half a file (what a half-written one does is tested on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.rename(path)


def replace_yaml(path: Path, *docs: dict[str, Any]) -> None:
    replace(path, yaml.safe_dump_all(docs))
