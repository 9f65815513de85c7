"""Envoy's own field rules (the protoc-gen-validate annotations that ship with xds-protos),
checked on what xdscp is about to serve: whatever breaks one would be NACKed.

Envoy checks these on every resource it receives, and on each typed config (an `Any`) when it
builds the extension. Checked here the same way, so a translator mistake or an input no
validation foresaw is caught before it is served, with the field named. Rules not understood
here (uri, email, timestamps) pass: this must never refuse what Envoy accepts.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import re2
from google.protobuf import any_pb2, duration_pb2, symbol_database
from google.protobuf.message import Message
from validate import validate_pb2

Violation = tuple[str, str]  # field path, what is wrong
Field = Any  # a FieldDescriptor, from the pure-Python or the upb runtime

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$"
)
_HEADER_NAME = re.compile(r"^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$")
_HEADER_VALUE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]*$")
_LOOSE_HEADER = re.compile(r"^[^\x00\n\r]*$")
_NUMERIC = (
    "float", "double", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "fixed32", "fixed64", "sfixed32", "sfixed64",
)  # fmt: skip
_WRAPPERS = {
    "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
}  # fmt: skip


def violations(message: Message, path: str = "") -> Iterator[Violation]:
    """Every rule the message (and what it holds, typed configs included) breaks."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Any":
        inner = _unpack(message)  # type: ignore[arg-type]
        if inner is not None:
            yield from violations(inner, path)
        return
    plan = _plan(descriptor)
    for oneof in plan.required_oneofs:
        if message.WhichOneof(oneof) is None:
            yield _join(path, oneof), "one of its fields is required"
    # Fields with rules are checked set or not (a required message, an empty name); fields
    # without rules only matter for what they hold, so only those set are walked.
    fields = {f.name: f for f in plan.ruled}
    fields.update((f.name, f) for f, _ in message.ListFields() if f.message_type is not None)
    for field in sorted(fields.values(), key=_index):
        oneof = field.containing_oneof
        if oneof is not None and message.WhichOneof(oneof.name) != field.name:
            continue  # a oneof's rules hold for the member set (and `optional`: when set)
        where = _join(path, field.name)
        rules = plan.rules.get(field.name)
        value = getattr(message, field.name)
        if field.name in plan.maps:
            yield from _map(value, field, rules, where)
        elif field.is_repeated:
            yield from _repeated(list(value), field, rules, where)
        elif field.message_type is not None:
            present = message.HasField(field.name)
            yield from _message(value if present else None, field, rules, where)
        elif rules is not None:
            yield from _scalar(value, field, rules, where)


@dataclass(frozen=True)
class _Plan:
    """What one message type's rules ask for, read from its descriptor once."""

    required_oneofs: tuple[str, ...]
    ruled: tuple[Field, ...]
    rules: dict[str, validate_pb2.FieldRules]
    maps: frozenset[str]


_PLANS: dict[str, _Plan] = {}


def _plan(descriptor: Any) -> _Plan:
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        required = tuple(
            oneof.name
            for oneof in descriptor.oneofs
            if oneof.GetOptions().HasExtension(validate_pb2.required)
            and oneof.GetOptions().Extensions[validate_pb2.required]
        )
        rules = {f.name: r for f in descriptor.fields if (r := _rules(f)) is not None}
        ruled = tuple(f for f in descriptor.fields if f.name in rules)
        maps = frozenset(
            f.name
            for f in descriptor.fields
            if f.message_type is not None and f.message_type.GetOptions().map_entry
        )
        plan = _PLANS[descriptor.full_name] = _Plan(required, ruled, rules, maps)
    return plan


def _index(field: Field) -> int:
    index: int = field.index
    return index


def _rules(field: Field) -> validate_pb2.FieldRules | None:
    options = field.GetOptions()
    if options.HasExtension(validate_pb2.rules):
        rules: validate_pb2.FieldRules = options.Extensions[validate_pb2.rules]
        return rules
    return None


def _message(
    value: Message | None,
    field: Field,
    rules: validate_pb2.FieldRules | None,
    where: str,
) -> Iterator[Violation]:
    kind = rules.WhichOneof("type") if rules is not None else None
    required = rules is not None and rules.HasField("message") and rules.message.required
    if value is None and required:
        yield where, "value is required"
    if value is None:
        if kind in ("duration", "any") and getattr(rules, kind).required:
            yield where, "value is required"
        return
    if rules is not None and rules.HasField("message") and rules.message.skip:
        return
    name = value.DESCRIPTOR.full_name
    if rules is not None and kind == "duration" and name == "google.protobuf.Duration":
        yield from _duration(value, rules.duration, where)  # type: ignore[arg-type]
    elif rules is not None and kind == "any":
        type_url = value.type_url  # type: ignore[attr-defined]
        if getattr(rules.any, "in") and type_url not in getattr(rules.any, "in"):
            yield where, f"type {type_url} is not one of {list(getattr(rules.any, 'in'))}"
        if type_url in rules.any.not_in:
            yield where, f"type {type_url} is not allowed"
    elif rules is not None and kind is not None and name in _WRAPPERS:
        yield from _scalar(value.value, field, rules, where)  # type: ignore[attr-defined]
    yield from violations(value, where)


def _repeated(
    items: list[Any],
    field: Field,
    rules: validate_pb2.FieldRules | None,
    where: str,
) -> Iterator[Violation]:
    item_rules = None
    if rules is not None and rules.HasField("repeated"):
        repeated = rules.repeated
        if not (repeated.ignore_empty and not items):
            if len(items) < repeated.min_items:
                yield where, f"must have at least {repeated.min_items} items"
            if repeated.HasField("max_items") and len(items) > repeated.max_items:
                yield where, f"must have at most {repeated.max_items} items"
            if repeated.unique and field.message_type is None and len(set(items)) != len(items):
                yield where, "items must be unique"
        item_rules = repeated.items if repeated.HasField("items") else None
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if field.message_type is not None:
            yield from _message(item, field, item_rules, at)
        elif item_rules is not None:
            yield from _scalar(item, field, item_rules, at)


def _map(
    value: Any, field: Field, rules: validate_pb2.FieldRules | None, where: str
) -> Iterator[Violation]:
    entry = field.message_type
    assert entry is not None
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    map_rules = rules.map if rules is not None and rules.HasField("map") else None
    if map_rules is not None and not (map_rules.ignore_empty and not value):
        if len(value) < map_rules.min_pairs:
            yield where, f"must have at least {map_rules.min_pairs} pairs"
        if map_rules.HasField("max_pairs") and len(value) > map_rules.max_pairs:
            yield where, f"must have at most {map_rules.max_pairs} pairs"
    for key in sorted(value):
        at = f"{where}[{key!r}]"
        if map_rules is not None and map_rules.HasField("keys"):
            yield from _scalar(key, key_field, map_rules.keys, at)
        values = (
            map_rules.values if map_rules is not None and map_rules.HasField("values") else None
        )
        if value_field.message_type is not None:
            yield from _message(value[key], value_field, values, at)
        elif values is not None:
            yield from _scalar(value[key], value_field, values, at)


def _scalar(
    value: Any, field: Field, rules: validate_pb2.FieldRules, where: str
) -> Iterator[Violation]:
    kind = rules.WhichOneof("type")
    if kind in _NUMERIC:
        yield from _number(value, getattr(rules, kind), where)
    elif kind == "string":
        yield from _string(value, rules.string, where)
    elif kind == "bytes":
        bytes_rules = rules.bytes
        if len(value) < bytes_rules.min_len:
            yield where, f"must be at least {bytes_rules.min_len} bytes"
        if bytes_rules.HasField("max_len") and len(value) > bytes_rules.max_len:
            yield where, f"must be at most {bytes_rules.max_len} bytes"
    elif kind == "enum":
        enum_rules = rules.enum
        enum = field.enum_type
        if enum_rules.defined_only and enum is not None and value not in enum.values_by_number:
            yield where, f"{value} is not a defined value"
        if enum_rules.HasField("const") and value != enum_rules.const:
            yield where, f"must be {enum_rules.const}"
        if getattr(enum_rules, "in") and value not in getattr(enum_rules, "in"):
            yield where, f"must be one of {list(getattr(enum_rules, 'in'))}"
        if value in enum_rules.not_in:
            yield where, f"must not be {value}"
    elif kind == "bool" and rules.bool.HasField("const") and value != rules.bool.const:
        yield where, f"must be {rules.bool.const}"


def _number(value: float, rules: Any, where: str) -> Iterator[Violation]:
    if getattr(rules, "ignore_empty", False) and not value:
        return
    if rules.HasField("const") and value != rules.const:
        yield where, f"must be {rules.const}"
    if rules.HasField("lt") and not value < rules.lt:
        yield where, f"must be less than {rules.lt}"
    if rules.HasField("lte") and not value <= rules.lte:
        yield where, f"must be at most {rules.lte}"
    if rules.HasField("gt") and not value > rules.gt:
        yield where, f"must be greater than {rules.gt}"
    if rules.HasField("gte") and not value >= rules.gte:
        yield where, f"must be at least {rules.gte}"
    if getattr(rules, "in") and value not in getattr(rules, "in"):
        yield where, f"must be one of {list(getattr(rules, 'in'))}"
    if value in rules.not_in:
        yield where, f"must not be {value}"


def _string(value: str, rules: validate_pb2.StringRules, where: str) -> Iterator[Violation]:
    if rules.ignore_empty and not value:
        return
    size = len(value.encode())
    checks = (
        (rules.HasField("const") and value != rules.const, f"must be {rules.const!r}"),
        (rules.HasField("len") and len(value) != rules.len, f"must be {rules.len} characters"),
        (len(value) < rules.min_len, f"must be at least {rules.min_len} characters"),
        (
            rules.HasField("max_len") and len(value) > rules.max_len,
            f"must be at most {rules.max_len} characters",
        ),
        (size < rules.min_bytes, f"must be at least {rules.min_bytes} bytes"),
        (
            rules.HasField("max_bytes") and size > rules.max_bytes,
            f"must be at most {rules.max_bytes} bytes",
        ),
        (not value.startswith(rules.prefix), f"must start with {rules.prefix!r}"),
        (not value.endswith(rules.suffix), f"must end with {rules.suffix!r}"),
        (rules.contains not in value, f"must contain {rules.contains!r}"),
        (
            rules.HasField("not_contains") and rules.not_contains in value,
            f"must not contain {rules.not_contains!r}",
        ),
        (
            bool(getattr(rules, "in")) and value not in getattr(rules, "in"),
            f"must be one of {list(getattr(rules, 'in'))}",
        ),
        (value in rules.not_in, "is not allowed"),
    )
    for broken, message in checks:
        if broken:
            yield where, message
    if rules.HasField("pattern") and not re2.search(rules.pattern, value, _OPTIONS):
        yield where, f"must match {rules.pattern!r}"
    well_known = rules.WhichOneof("well_known")
    if well_known is not None and not _well_known(value, well_known, rules):
        if well_known == "well_known_regex":
            well_known = validate_pb2.KnownRegex.Name(rules.well_known_regex)
        yield where, f"must be a valid {well_known.replace('_', ' ').lower()}"


def _well_known(value: str, kind: str, rules: validate_pb2.StringRules) -> bool:
    if kind == "hostname":
        return bool(_HOSTNAME.fullmatch(value))
    if kind in ("ip", "ipv4", "ipv6", "address"):
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return kind == "address" and bool(_HOSTNAME.fullmatch(value))
        return kind in ("ip", "address") or kind == f"ipv{ip.version}"
    if kind == "well_known_regex":
        strict = not rules.HasField("strict") or rules.strict
        if rules.well_known_regex == validate_pb2.HTTP_HEADER_NAME:
            return bool((_HEADER_NAME if strict else _LOOSE_HEADER).fullmatch(value))
        if rules.well_known_regex == validate_pb2.HTTP_HEADER_VALUE:
            return bool((_HEADER_VALUE if strict else _LOOSE_HEADER).fullmatch(value))
    return True  # email, uri, uuid...: not checked here


def _duration(
    value: duration_pb2.Duration, rules: validate_pb2.DurationRules, where: str
) -> Iterator[Violation]:
    nanos = value.seconds * 10**9 + value.nanos

    def of(bound: duration_pb2.Duration) -> int:
        return bound.seconds * 10**9 + bound.nanos

    checks = (
        ("const", operator.eq, "must be"),
        ("lt", operator.lt, "must be less than"),
        ("lte", operator.le, "must be at most"),
        ("gt", operator.gt, "must be greater than"),
        ("gte", operator.ge, "must be at least"),
    )
    for name, holds, words in checks:
        if rules.HasField(name):
            bound = of(getattr(rules, name))
            if not holds(nanos, bound):
                yield where, f"{words} {bound / 1e9:g}s"


def _unpack(value: any_pb2.Any) -> Message | None:
    name = value.type_url.rpartition("/")[2]
    try:
        cls = symbol_database.Default().GetSymbol(name)
    except KeyError:
        return None  # a type this process never imported: Envoy will judge it
    inner: Message = cls()
    inner.ParseFromString(value.value)
    return inner


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
