"""Durations as kgateway's CRD accepts them: 1 to 4 `<digits><unit>` pairs, units h, m, s, ms."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticKnownError

from xdscp.model.errors import rule_error

# The CRD's CEL rule and length limit, so the file mode and the API server agree.
_GRAMMAR = re.compile(r"([0-9]{1,5}(h|m|s|ms)){1,4}")
_PAIR = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_MILLIS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
MAX_LENGTH = 32
INVALID = "invalid duration value"


@dataclass(frozen=True)
class Duration:
    """A non-negative duration in whole milliseconds (the grammar's finest unit).

    Units may repeat and come in any order, as Go's time.ParseDuration reads them: `1s1s` is 2s.
    """

    millis: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        if len(text) > MAX_LENGTH or not _GRAMMAR.fullmatch(text):
            raise ValueError(f"{INVALID} {text!r}: want e.g. 30s, 1m30s, 1500ms")
        return cls(sum(int(n) * _MILLIS[u] for n, u in _PAIR.findall(text)), text)

    @property
    def whole_seconds(self) -> int:
        """Truncated, for Envoy fields counted in seconds (keepalive_time, keepalive_interval)."""
        return self.millis // 1000

    def __str__(self) -> str:
        return self.text


def _coerce(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise PydanticKnownError("string_type")
    if len(value) > MAX_LENGTH:
        raise PydanticKnownError("string_too_long", {"max_length": MAX_LENGTH})
    try:
        return Duration.parse(value)
    except ValueError:
        raise rule_error(INVALID) from None


DurationField = Annotated[Duration, BeforeValidator(_coerce), PlainSerializer(str)]


def _minimum(floor: str, message: Callable[[str], str]) -> AfterValidator:
    floor_millis = Duration.parse(floor).millis

    def check(value: Duration, info: ValidationInfo) -> Duration:
        if value.millis < floor_millis:
            raise rule_error(message(to_camel(info.field_name or "duration")))
        return value

    return AfterValidator(check)


def at_least(floor: str, words: str) -> AfterValidator:
    """The CRD's `duration(self) >= duration(floor)` rule, worded as kgateway words it."""
    return _minimum(floor, lambda field: f"{field} must be at least {words}")


# Envoy rejects a zero duration in these fields (connect_timeout, health check timings), although
# the CRD admits `0s`: reject it here rather than have Envoy refuse the whole cluster update.
envoy_positive = _minimum("1ms", lambda field: f"Envoy requires {field} to be greater than 0s")


AtLeast1ms = Annotated[DurationField, at_least("1ms", "1ms")]
