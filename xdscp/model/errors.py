"""Pydantic's errors, reworded the way the API server words a CRD violation."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def describe(err: ValidationError) -> Iterator[tuple[str, str]]:
    """(field path, message) for every error, paths written as kubectl writes them."""
    for detail in err.errors(include_url=False):
        if _counts_failed_items(detail):
            continue
        yield _path(detail["loc"]), _message(detail)


def _counts_failed_items(detail: ErrorDetails) -> bool:
    # Pydantic adds "too short" to a list whose items failed; those items are reported already.
    actual = detail.get("ctx", {}).get("actual_length")
    value = detail.get("input")
    return detail["type"] == "too_short" and isinstance(value, list) and actual != len(value)


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" in part or part.startswith("function-"):
            continue  # pydantic's names for union branches and validators, not fields
        else:
            path += f".{part}" if path else part
    return path


def _message(detail: ErrorDetails) -> str:
    kind, ctx, value = detail["type"], detail.get("ctx", {}), detail.get("input")
    if kind == "missing":
        return "Required value"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"Invalid value: {value!r}: {detail['msg'].replace('Input ', '')}"
    if kind in ("too_short", "too_long"):
        return f"Invalid value: {detail['msg'].replace('Value', 'list').lower()}"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"Invalid value: {value!r}: {detail['msg'].replace('Input', 'must')}"
    return f"Invalid value: {value!r}: {detail['msg']}"
