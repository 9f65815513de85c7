"""Durations: kgateway's CRD grammar, whole seconds where Envoy counts seconds, fractions kept."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from xdscp.model.duration import Duration, DurationField
from xdscp.model.errors import describe
from xdscp.translate import protos


@pytest.mark.parametrize(
    ("text", "millis"),
    [("30s", 30_000), ("1m30s", 90_000), ("1500ms", 1500), ("0s", 0), ("1s1s", 2000)],
)
def test_grammar_accepts(text: str, millis: int) -> None:
    assert Duration.parse(text).millis == millis


@pytest.mark.parametrize(
    "text", ["1.5s", "30", "-1s", "30S", "", "10us", "1d", "100000s", "1h1m1s1ms1ms", "30s\n"]
)
def test_grammar_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration value"):
        Duration.parse(text)


@pytest.mark.parametrize(("text", "seconds"), [("2999ms", 2), ("1m30s500ms", 90), ("1s", 1)])
def test_whole_seconds_truncate(text: str, seconds: int) -> None:
    assert Duration.parse(text).whole_seconds == seconds


@pytest.mark.parametrize(
    ("text", "envoy"), [("1500ms", "1.500s"), ("5s", "5s"), ("0s", "0s"), ("1m30s500ms", "90.500s")]
)
def test_other_fields_keep_the_fraction(text: str, envoy: str) -> None:
    assert json.loads(json_format.MessageToJson(protos.duration(Duration.parse(text)))) == envoy


@given(
    st.lists(
        st.tuples(st.integers(0, 99999), st.sampled_from(["h", "m", "s", "ms"])),
        min_size=1,
        max_size=4,
    )
)
def test_pairs_add_up(pairs: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in pairs)
    scale = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
    assert Duration.parse(text).millis == sum(n * scale[unit] for n, unit in pairs)


def _error(value: object) -> str:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(DurationField).validate_python(value)
    ((_, message),) = describe(raised.value)
    return message


def test_field_errors_read_as_the_api_server_writes_them() -> None:
    assert _error("1.5s") == 'Invalid value: "1.5s": invalid duration value'
    assert _error(30) == 'Invalid value: "integer": must be of type string'
    assert _error("0" * 33 + "s") == "Too long: may not be more than 32 bytes"


def test_serializes_as_written() -> None:
    assert TypeAdapter(DurationField).dump_python(Duration.parse("1m30s")) == "1m30s"
