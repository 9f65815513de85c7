"""Envoy's field rules on one value: numbers, strings (patterns and well-known formats),
bytes, enums, bools and durations, with the failure said as a short phrase."""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Iterator
from typing import Any

import re2
from google.protobuf import duration_pb2
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


def scalar(
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


def duration(
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
