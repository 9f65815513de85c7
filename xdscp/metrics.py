"""Prometheus metrics, in a registry of their own (nothing global at import): a leaf module
every stage may record to.

Every labelled series xdscp can know in advance exists from the start, at 0: a dashboard or an
alert on `xdscp_nacks_total{type="cds"}` sees a series before the first NACK.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from xdscp.resourcetypes import SHORT_NAMES

VARIANTS = ("sotw", "delta")
# Every reason a request or a stream is refused (the server's Rejection and Rejected reasons;
# a test checks that this list has them all).
REJECTIONS = (
    "unknown_type",
    "permission_denied",
    "identity_changed",
    "group_changed",
    "node_id_too_long",
    "node_metadata_too_large",
    "name_too_long",
    "too_many_names",
    "too_many_stream_names",
    "too_many_unknown_types",
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.streams = Gauge(
            "xdscp_streams_open", "ADS streams open", ["variant"], registry=self.registry
        )
        self.responses = Counter(
            "xdscp_responses", "xDS responses sent", ["variant", "type"], registry=self.registry
        )
        self.acks = Counter("xdscp_acks", "ACKs received", ["type"], registry=self.registry)
        self.nacks = Counter("xdscp_nacks", "NACKs received", ["type"], registry=self.registry)
        self.rejected = Counter(
            "xdscp_requests_rejected",
            "Requests refused: an unknown type, or a stream ended over a bound or for its node",
            ["reason"],
            registry=self.registry,
        )
        self.snapshot_build = Histogram(
            "xdscp_snapshot_build_seconds",
            "Time from a model change to a new snapshot in the cache",
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "xdscp_event_loop_lag_seconds",
            "How late the event loop ran a timer (sampled every 50 ms): time it was held",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.push_latency = Histogram(
            "xdscp_push_ack_seconds",
            "Time from sending a response to its ACK",
            ["type"],
            registry=self.registry,
        )
        self.held = Gauge(
            "xdscp_objects_held",
            "Objects served at their last good version (or left out) because Envoy refused, "
            "or translation failed on, what they translate to",
            registry=self.registry,
        )
        self.stale = Gauge(
            "xdscp_snapshot_stale",
            "1 while what is served is not the translation of the latest input",
            registry=self.registry,
        )
        self.snapshot_version = Gauge(
            "xdscp_snapshot_info", "Current snapshot", ["version"], registry=self.registry
        )
        types = SHORT_NAMES.values()
        for variant in VARIANTS:
            self.streams.labels(variant)
            for short in types:
                self.responses.labels(variant, short)
        for short in types:
            self.acks.labels(short)
            self.nacks.labels(short)
            self.push_latency.labels(short)
        for reason in REJECTIONS:
            self.rejected.labels(reason)
