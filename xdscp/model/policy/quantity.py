"""HTTP/2 window sizes: an integer or a Kubernetes quantity such as `64Ki`, as the CRD says."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticKnownError

from xdscp.model.errors import rule_error

# The CRD's pattern for a quantity string (Kubernetes' resource.Quantity grammar).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SUFFIXES = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
}
WINDOW_MIN, WINDOW_MAX = 65535, 2**31 - 1


def parse_quantity(text: str) -> Decimal:
    """The exact value of a quantity string; ValueError if it is none."""
    if not _QUANTITY.fullmatch(text):
        raise ValueError(f"not a quantity: {text!r}")
    number = _NUMBER.match(text)
    assert number is not None  # the pattern starts with a number
    suffix = text[number.end() :]
    scale = _SUFFIXES[suffix] if suffix in _SUFFIXES else Decimal(10) ** Decimal(suffix[1:])
    return Decimal(number.group()) * scale


def _window(value: Any, info: ValidationInfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticKnownError("int_type")
    if isinstance(value, str) and not _QUANTITY.fullmatch(value):
        raise PydanticKnownError("string_pattern_mismatch", {"pattern": QUANTITY_PATTERN})
    try:
        exact = Decimal(value) if isinstance(value, int) else parse_quantity(value)
    except ArithmeticError:  # an exponent beyond Decimal's range: far outside the window anyway
        exact = Decimal(-1)
    # The CRD compares exactly (65534.5 passes); kgateway then rounds up, as Quantity.Value() does.
    if not WINDOW_MIN - 1 < exact <= WINDOW_MAX:
        field = to_camel(info.field_name or "window")
        raise rule_error(
            f"{field[0].upper()}{field[1:]} must be between {WINDOW_MIN} and {WINDOW_MAX}"
            " bytes (inclusive)"
        )
    return math.ceil(exact)


WindowSize = Annotated[int, BeforeValidator(_window), Strict()]
