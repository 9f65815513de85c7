"""Protobuf wire encoding by hand for the few xDS envelopes we build on every push.

Resources are serialized once per version; the envelopes around them (Any, Resource,
DiscoveryResponse) are a few tag/length prefixes, so concatenating bytes avoids re-parsing
and re-serializing every resource for every stream. Field numbers are from
envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto.
"""

from __future__ import annotations

from collections.abc import Iterable


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or message)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def text(number: int, value: str) -> bytes:
    return field(number, value.encode()) if value else b""


def any_message(type_url: str, value: bytes) -> bytes:
    """google.protobuf.Any {type_url = 1; value = 2}."""
    return text(1, type_url) + field(2, value)


def delta_resource(name: str, version: str, any_bytes: bytes) -> bytes:
    """discovery.v3.Resource {version = 1; resource = 2; name = 3}."""
    return text(1, version) + field(2, any_bytes) + text(3, name)


def any_end(resource: bytes, name: str) -> int:
    """Where the Any ends in a `delta_resource` of `name` (its name follows it), and with it
    the Any's value: an Any and its value are slices of the one resource's bytes."""
    return len(resource) - len(text(3, name))


def discovery_response(version: str, entries: Iterable[bytes], type_url: str) -> bytes:
    """DiscoveryResponse without its nonce {version_info = 1; resources = 2; type_url = 4};
    `entries` are its resources, each an Any already encoded as field 2."""
    return text(1, version) + b"".join(entries) + text(4, type_url)


def with_nonce(response: bytes, nonce: str) -> bytes:
    """The nonce field (5 in both response types) appended; fields may come in any order."""
    return response + text(5, nonce)


def delta_discovery_response(
    system_version: str,
    resources: Iterable[bytes],
    type_url: str,
    removed: Iterable[str],
    nonce: str,
) -> bytes:
    """DeltaDiscoveryResponse {system_version_info = 1; resources = 2; type_url = 4;
    nonce = 5; removed_resources = 6}."""
    return (
        text(1, system_version)
        + b"".join(field(2, r) for r in resources)
        + text(4, type_url)
        + text(5, nonce)
        + b"".join(field(6, name.encode()) for name in removed)
    )
