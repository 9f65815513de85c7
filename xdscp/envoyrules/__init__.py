"""Envoy's own field rules (the protoc-gen-validate annotations that ship with xds-protos),
checked on what xdscp is about to serve: whatever breaks one would be NACKed.

Envoy checks these on every resource it receives, and on each typed config (an `Any`) when it
builds the extension. Checked here the same way, so a translator mistake or an input no
validation foresaw is caught before it is served, with the field named. Rules not understood
here (uri, email, timestamps) pass: this must never refuse what Envoy accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2, symbol_database
from google.protobuf.message import Message
from validate import validate_pb2

from xdscp.envoyrules.values import Field, Violation, duration, scalar

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
            yield from scalar(value, field, rules, where)


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
        yield from duration(value, rules.duration, where)  # type: ignore[arg-type]
    elif rules is not None and kind == "any":
        type_url = value.type_url  # type: ignore[attr-defined]
        if getattr(rules.any, "in") and type_url not in getattr(rules.any, "in"):
            yield where, f"type {type_url} is not one of {list(getattr(rules.any, 'in'))}"
        if type_url in rules.any.not_in:
            yield where, f"type {type_url} is not allowed"
    elif rules is not None and kind is not None and name in _WRAPPERS:
        yield from scalar(value.value, field, rules, where)  # type: ignore[attr-defined]
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
            yield from scalar(item, field, item_rules, at)


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
            yield from scalar(key, key_field, map_rules.keys, at)
        values = (
            map_rules.values if map_rules is not None and map_rules.HasField("values") else None
        )
        if value_field.message_type is not None:
            yield from _message(value[key], value_field, values, at)
        elif values is not None:
            yield from scalar(value[key], value_field, values, at)


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
