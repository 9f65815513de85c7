"""Prometheus metrics, in a registry of their own (nothing global at import): a leaf module
every stage may record to."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
