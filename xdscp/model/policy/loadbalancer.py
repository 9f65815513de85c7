"""loadBalancer: exactly one algorithm, with its knobs, and the settings common to all."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from xdscp.model.duration import DurationField
from xdscp.model.errors import rule_error
from xdscp.model.policy.hashing import HashPolicies
from xdscp.model.policy.rules import (
    Block,
    Rule,
    at_least_one,
    envoy_bounds,
    exactly_one,
    present,
)
from xdscp.model.types import Bool, Int32, NonNegInt64, Percent, PositiveInt32, PositiveInt64

_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# Envoy's cap on RingHash ring sizes.
MAX_RING_SIZE = 8_388_608


def _aggression(value: str) -> str:
    if not (_DECIMAL.fullmatch(value) and float(value) > 0.0):
        raise rule_error(
            "Aggression, if specified, must be a string representing a number greater than 0.0"
        )
    return value


class SlowStart(Block):
    window: DurationField | None = None
    aggression: Annotated[str, Field(strict=True), AfterValidator(_aggression)] | None = None
    min_weight_percent: Percent | None = None


class LeastRequest(Block):
    # Envoy rejects fewer than 2 choices; the CRD's default is 2 but it admits any int32.
    choice_count: Annotated[Int32, envoy_bounds(low=2)] = 2
    slow_start: SlowStart | None = None


class RoundRobin(Block):
    slow_start: SlowStart | None = None


RingSize = Annotated[NonNegInt64, envoy_bounds(high=MAX_RING_SIZE)]


def _ring_sizes_ordered(data: Mapping[str, Any]) -> bool:
    low, high = data.get("minimumRingSize"), data.get("maximumRingSize")
    return not (isinstance(low, int) and isinstance(high, int)) or low <= high


class RingHash(Block):
    RULES = (Rule(_ring_sizes_ordered, "Envoy requires minimumRingSize <= maximumRingSize"),)

    minimum_ring_size: RingSize | None = None
    maximum_ring_size: RingSize | None = None
    use_hostname_for_hashing: Bool | None = None
    hash_policies: HashPolicies | None = None


class Maglev(Block):
    use_hostname_for_hashing: Bool | None = None
    hash_policies: HashPolicies | None = None


class Random(Block):
    pass


class Force(Block):
    min_endpoints_in_zone_threshold: PositiveInt32 = 1


class PreferLocal(Block):
    force: Force | None = None
    min_endpoints_threshold: PositiveInt64 = 6
    routing_enabled: Percent = 100


class ZoneAware(Block):
    RULES = (at_least_one("preferLocal"),)

    prefer_local: PreferLocal | None = None


ALGORITHMS = ("leastRequest", "roundRobin", "ringHash", "maglev", "random")


class LoadBalancer(Block):
    RULES = (
        Rule(
            lambda d: not (present(d, "localityType") and present(d, "zoneAware")),
            "localityType and zoneAware are mutually exclusive",
        ),
        Rule(
            lambda d: (
                not ((present(d, "ringHash") or present(d, "maglev")) and present(d, "zoneAware"))
            ),
            "zoneAware is not supported with ringHash or maglev load balancers",
        ),
        exactly_one(*ALGORITHMS),
    )

    healthy_panic_threshold: Percent | None = None
    update_merge_window: DurationField | None = None
    least_request: LeastRequest | None = None
    round_robin: RoundRobin | None = None
    ring_hash: RingHash | None = None
    maglev: Maglev | None = None
    random: Random | None = None
    locality_type: Literal["WeightedLb"] | None = None
    zone_aware: ZoneAware | None = None
    close_connections_on_host_set_change: Bool | None = None
