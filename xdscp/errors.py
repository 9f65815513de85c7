"""Mistakes in how or where xdscp was run: one line for the user and an exit code, no traceback.

Exit codes (`xdscp --help` lists them): 0 success; 1 the input is invalid or a check found a
difference; 2 a usage or environment error (a flag, a path that does not exist, a port taken,
an admin endpoint that does not answer).
"""

from __future__ import annotations

INVALID = 1
USAGE = 2


class UserError(Exception):
    """Something the user can fix; the message names it (and the flag or path) in one line."""

    exit_code = USAGE


class BindError(UserError):
    """A port xdscp must listen on is taken or not ours to bind."""
