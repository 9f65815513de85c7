"""dns: how often Envoy resolves the host names of DNS-resolved Backends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from xdscp.model.duration import AtLeast1ms, Duration, DurationField
from xdscp.model.policy.rules import Block, Rule
from xdscp.model.types import Bool


def _millis(value: Any) -> int | None:
    try:
        return Duration.parse(value).millis if isinstance(value, str) else None
    except ValueError:
        return None  # the field's own grammar error says so


def _jitter_within_refresh_rate(data: Mapping[str, Any]) -> bool:
    jitter, refresh = _millis(data.get("jitter")), _millis(data.get("refreshRate"))
    return jitter is None or refresh is None or jitter <= refresh


class Dns(Block):
    RULES = (Rule(_jitter_within_refresh_rate, "jitter must be less than or equal to refreshRate"),)

    refresh_rate: AtLeast1ms | None = None
    jitter: DurationField | None = None
    respect_ttl: Bool | None = Field(default=None, alias="respectTTL")
