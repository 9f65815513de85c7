"""Durations as kgateway's CRD accepts them: 1 to 4 `<digits><unit>` pairs, units h, m, s, ms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

# The CRD's CEL rule, so the file mode and the API server agree on what is a duration.
_GRAMMAR = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_PAIR = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_MILLIS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}


@dataclass(frozen=True, order=True)
class Duration:
    """A non-negative duration in whole milliseconds (the grammar's finest unit)."""

    millis: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        if len(text) > 32 or not _GRAMMAR.match(text):
            raise ValueError(f"invalid duration value {text!r}: want e.g. 30s, 1m30s, 1500ms")
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
        raise ValueError(f"invalid duration value {value!r}: must be a string such as 30s")
    return Duration.parse(value)


DurationField = Annotated[Duration, BeforeValidator(_coerce), PlainSerializer(str)]
