"""Pydantic's errors, reworded the way the API server words a CRD violation.

`spec.loadBalancer.healthyPanicThreshold: Invalid value: 101: should be less than or equal to
100` reads the same from `xdscp validate` as from `kubectl apply`. One difference, on purpose:
where the API server shows only a value's JSON type ("string"), a scalar is shown as it was
written, so the reader sees which value is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

# The error type of a schema rule (a CEL rule of the CRD, or a rule Envoy adds).
RULE = "rule"
# An unknown field found by a validator of the block holding it; its name is in the context.
UNKNOWN = "unknown_field"
# A rule about a value that must never be shown: a Secret's.
SECRET_RULE = "secret_rule"

_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "string": "string",
    "dict": "object",
    "model": "object",
    "model_attributes": "object",
    "list": "array",
    "tuple": "array",
}


# Pydantic error types, worded as the API server words the same violation (ctx fills them in).
_TEMPLATES = {
    "missing": "Required value",
    "extra_forbidden": "field not declared in schema",
    UNKNOWN: "field not declared in schema",
    RULE: "Invalid value: {shown}: {message}",
    SECRET_RULE: "Invalid value: {message}",
    "greater_than_equal": "Invalid value: {shown}: should be greater than or equal to {ge}",
    "less_than_equal": "Invalid value: {shown}: should be less than or equal to {le}",
    "too_short": "Invalid value: {actual_length}: should have at least {min_length} items",
    "too_long": "Too many: {actual_length}: must have at most {max_length} items",
    "string_too_short": "Invalid value: {shown}: should be at least {min_length} chars long",
    "string_too_long": "Too long: may not be more than {max_length} bytes",
    "string_pattern_mismatch": "Invalid value: {shown}: should match '{pattern}'",
}


def rule_error(message: str) -> PydanticCustomError:
    return PydanticCustomError(RULE, "{message}", {"message": message})


def unknown_field(name: str) -> PydanticCustomError:
    return PydanticCustomError(UNKNOWN, "unknown field {field}", {"field": name})


def secret_error(message: str) -> PydanticCustomError:
    """A rule error that names the key at fault and never shows its value."""
    return PydanticCustomError(SECRET_RULE, "{message}", {"message": message})


def describe(err: ValidationError) -> Iterator[tuple[str, str]]:
    """(field path, message) for every error, paths written as kubectl writes them."""
    for detail in err.errors(include_url=False):
        if _counts_failed_items(detail):
            continue
        loc = detail["loc"]
        if detail["type"] == UNKNOWN:
            loc = (*loc, detail.get("ctx", {})["field"])
        yield _path(loc), _message(detail)


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
    if kind in _TEMPLATES:
        return _TEMPLATES[kind].format(shown=_shown(value), **ctx)
    if kind == "literal_error":
        supported = ", ".join(f'"{v}"' for v in re.findall(r"'([^']*)'", ctx["expected"]))
        return f"Unsupported value: {_shown(value)}: supported values: {supported}"
    if kind.endswith("_type") and kind.removesuffix("_type") in _JSON_TYPES:
        expected = _JSON_TYPES[kind.removesuffix("_type")]
        return f'Invalid value: "{_json_type(value)}": must be of type {expected}'
    return f"Invalid value: {_shown(value)}: {detail['msg']}"


def _shown(value: Any) -> str:
    if isinstance(value, dict | list | tuple | BaseModel):
        return f'"{_json_type(value)}"'
    return json.dumps(value, default=str)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"
