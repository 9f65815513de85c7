"""Setting an optional Envoy field from an optional policy field: unset stays unset, 0 is set."""

from __future__ import annotations

from typing import Any

from google.protobuf import duration_pb2

from xdscp.model.duration import Duration
from xdscp.translate import protos


def put_value(wrapper: Any, value: float | None) -> None:
    """A protobuf wrapper (UInt32Value, BoolValue, DoubleValue...); bool and int are floats here."""
    if value is not None:
        wrapper.value = value


def put_duration(target: duration_pb2.Duration, value: Duration | None) -> None:
    if value is not None:
        target.CopyFrom(protos.duration(value))
