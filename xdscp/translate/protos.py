"""Small builders for Envoy messages that several translate steps need."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

from xdscp.model.duration import Duration


def ads() -> config_source_pb2.ConfigSource:
    """Fetch over the ADS stream the resource came on."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.ApiVersion.V3,
    )


def duration(value: Duration) -> duration_pb2.Duration:
    seconds, millis = divmod(value.millis, 1000)
    return duration_pb2.Duration(seconds=seconds, nanos=millis * 1_000_000)


def seconds(value: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=value)


def socket_address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


def encode(message: Message) -> bytes:
    """A resource's wire form, as translations hand it over: deterministic (map fields in key
    order), so the same input gives the same bytes and versions come from content."""
    return message.SerializeToString(deterministic=True)


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
