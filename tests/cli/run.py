"""The `xdscp` command as a user runs it: a process, its output and its exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def xdscp(
    *args: str | Path, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdscp", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The error line of a run that failed as documented: that exit code, one stderr line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
