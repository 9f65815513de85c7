"""outlierDetection: passive health checking, ejecting endpoints that keep failing."""

from __future__ import annotations

from pydantic import Field

from xdscp.model.duration import AtLeast1ms, Duration
from xdscp.model.policy.rules import Block
from xdscp.model.types import Bool, NonNegInt32, Percent


class OutlierDetection(Block):
    """The four CRD defaults make every outlierDetection block carry them, as in Kubernetes."""

    consecutive_5xx: NonNegInt32 = Field(default=5, alias="consecutive5xx")
    enforcing_consecutive_5xx: Percent | None = Field(default=None, alias="enforcingConsecutive5xx")
    split_external_local_origin_errors: Bool | None = None
    consecutive_local_origin_failure: NonNegInt32 | None = None
    enforcing_consecutive_local_origin_failure: Percent | None = None
    interval: AtLeast1ms = Duration.parse("10s")
    base_ejection_time: AtLeast1ms = Duration.parse("30s")
    max_ejection_percent: Percent = 10
